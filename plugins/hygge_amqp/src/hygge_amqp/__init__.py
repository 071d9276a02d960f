"""hygge-amqp: RabbitMQ streams and queues as hygge homes, exchanges as a store (on pika)."""
