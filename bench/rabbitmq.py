"""The RabbitMQ stream the queue workloads read: the benchmark table, one JSON message per
row, published once per size and kept (named after the row count) for later runs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
from gen import service_setting


def rabbitmq_url() -> str | None:
    """The broker's AMQP URL: `HYGGE_BENCH_RABBITMQ_URL`, `HYGGE_TEST_RABBITMQ_URL`, or the
    services script's env file."""
    return service_setting("HYGGE_BENCH_RABBITMQ_URL", "HYGGE_TEST_RABBITMQ_URL")


def _plain(value: object) -> object:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def stream_with(url: str, parquet: Path, rows: int) -> str:
    """The name of a stream holding the `rows` rows of `parquet` (published if missing)."""
    import pika

    name = f"hygge-bench-r{rows}"
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_declare(name, durable=True, arguments={"x-queue-type": "stream"})
    channel.basic_qos(prefetch_count=1000)
    last = None
    for method, props, _ in channel.consume(
        name, arguments={"x-stream-offset": "last"}, inactivity_timeout=0.5
    ):
        if method is None:
            break
        last = props.headers["x-stream-offset"]
    channel.cancel()
    if last == rows - 1:
        connection.close()
        return name
    if last is not None:  # a half-published stream: start again
        channel.queue_delete(name)
        channel.queue_declare(name, durable=True, arguments={"x-queue-type": "stream"})
    channel.tx_select()
    props = pika.BasicProperties(delivery_mode=2)
    for batch in pq.ParquetFile(parquet).iter_batches(batch_size=10_000):
        for row in batch.to_pylist():
            channel.basic_publish("", name, json.dumps(row, default=_plain).encode(), props)
        channel.tx_commit()
    connection.close()
    return name
