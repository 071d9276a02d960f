"""Fixtures for hygge-amqp's tests: the real RabbitMQ node of scripts/services.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hygge_core.testing import need_env

from .broker import Broker


@pytest.fixture
def broker() -> Iterator[Broker]:
    """The running broker; the queues and streams a test declared are deleted after it."""
    (url,) = need_env(
        "HYGGE_TEST_RABBITMQ_URL",
        hint="run `python3 scripts/services.py start rabbitmq` and source "
        "$HYGGE_SERVICES_DIR/services.env",
    )
    b = Broker(url)
    yield b
    b.delete_all()
