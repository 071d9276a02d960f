"""Registers the RabbitMQ home and store with hygge (entry point `hygge.amqp`)."""

from __future__ import annotations

from collections.abc import Callable

from hygge_core import hookimpl

# Registered by path: pika loads only when a flow uses RabbitMQ.


@hookimpl
def hygge_register_homes(register: Callable[[str, type | str], None]) -> None:
    register("rabbitmq", "hygge_amqp.home:RabbitHome")


@hookimpl
def hygge_register_stores(register: Callable[[str, type | str], None]) -> None:
    register("rabbitmq", "hygge_amqp.store:RabbitStore")
