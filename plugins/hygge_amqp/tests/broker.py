"""Talking to the test broker directly: declare, publish, count and delete; and reading back
the ids a Parquet store holds (tests only)."""

from __future__ import annotations

import json
import pathlib
import uuid
from collections.abc import Iterable
from typing import Any

import pika

from hygge_core.testing import FlowHarness


def landed_ids(folder: pathlib.Path) -> list[int]:
    """The `id` of every row a reader of the Parquet store `folder` sees ([] before the
    first commit), in file order."""
    if not folder.exists():
        return []
    table = FlowHarness.read_parquet_dir(folder)
    return table.column("id").to_pylist() if "id" in table.column_names else []


def unique(prefix: str) -> str:
    """A queue or stream name no other test (or engineer) uses."""
    return f"hygge-test-{prefix}-{uuid.uuid4().hex[:10]}"


class Broker:
    """The test broker, by URL; remembers what it declared so the fixture can delete it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.declared: list[str] = []

    def channel(self) -> Any:
        return pika.BlockingConnection(pika.URLParameters(self.url)).channel()

    def declare(self, name: str, kind: str = "classic") -> str:
        channel = self.channel()
        channel.queue_declare(name, durable=True, arguments={"x-queue-type": kind})
        channel.connection.close()
        self.declared.append(name)
        return name

    def publish(
        self, name: str, rows: Iterable[Any], *, ids: bool = True, raw: bool = False
    ) -> int:
        """Publish rows (JSON, or raw bytes) persistently in transactions; returns the count."""
        channel = self.channel()
        channel.tx_select()
        n = 0
        for n, row in enumerate(rows, 1):
            body = row if raw else json.dumps(row).encode()
            props = pika.BasicProperties(
                delivery_mode=2,
                message_id=_id(row, n) if ids and not raw else None,
                headers={"n": n},
                timestamp=1_700_000_000 + n,
            )
            channel.basic_publish("", name, body, props)
            if n % 2000 == 0:
                channel.tx_commit()
        channel.tx_commit()
        channel.connection.close()
        return n

    def ready(self, name: str) -> int:
        """Messages ready in a queue (not delivered, or delivered and requeued)."""
        channel = self.channel()
        count = channel.queue_declare(name, passive=True).method.message_count
        channel.connection.close()
        return int(count)

    def stream_rows(self, name: str) -> list[dict[str, Any]]:
        """Every message of a stream, JSON-decoded, in offset order."""
        channel = self.channel()
        channel.basic_qos(prefetch_count=1000)
        rows = []
        for method, _, body in channel.consume(
            name, arguments={"x-stream-offset": "first"}, inactivity_timeout=1.0
        ):
            if method is None:
                break
            rows.append(json.loads(body))
            channel.basic_ack(method.delivery_tag, multiple=True)
        channel.connection.close()
        return rows

    def delete_all(self) -> None:
        channel = self.channel()
        for name in self.declared:
            channel.queue_delete(name)
        channel.connection.close()


def _id(row: Any, n: int) -> str:
    return f"m{row['id']}" if isinstance(row, dict) and "id" in row else f"m{n}"
