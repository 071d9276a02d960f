"""The RabbitMQ store: each row published as a JSON message, in broker transactions.

A broker has no staging area, so `stage` writes each unit's messages (routing key, message
id, JSON body) to a local file, and `commit` publishes them in transactions of
`publish_batch` messages, then the flow's state as the one message of the durable queue
`hygge.state.<tag>` (`x-max-length: 1`: the broker drops the older state as the new one
lands, an atomic replacement).

Exactly-once, and its limit: a run whose commit finished is never published again (its
state holds the cursor, so an incremental home has nothing new to send). A crash *during*
the publishing leaves the messages published so far in place and no new state, so the rerun
publishes the run again: the broker cannot drop a duplicate by itself. Every message
carries a message id derived from the flow, the work unit and the row number, the same in
the rerun, so consumers that deduplicate by message id (hygge's queue home does) see each
row once.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import os
import shutil
import string
import tempfile
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa

from hygge_amqp.config import RabbitConnection, RabbitStoreConfig
from hygge_amqp.connect import close_quietly, connect, faults, settings
from hygge_core import (
    FlowContext,
    FlowState,
    PermanentError,
    StagedUnit,
    Store,
    WorkUnit,
    describe_error,
)
from hygge_core.faults import fault_point

STATE_QUEUE = "hygge.state."


class RabbitStore(Store):
    """Publishes rows to an exchange (see the module docstring)."""

    config_model = RabbitStoreConfig
    connection_model = RabbitConnection
    modes = frozenset({"append"})
    single_process = True  # staged files live on this machine until the commit
    transient = ("_conn",)
    fault_points = ("commit.published", "commit.state")
    arrow_types = frozenset({"int32", "int64", "float64", "bool", "string", "timestamp", "date"})

    def __init__(self, config: RabbitStoreConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: RabbitStoreConfig = config
        target = f"{context.flow}\0{config.exchange}\0{config.routing_key}"
        self.tag = hashlib.sha256(target.encode()).hexdigest()[:16]
        self.state_queue = STATE_QUEUE + self.tag
        self._conn: Any = None
        self._fields = [f for _, f, _, _ in string.Formatter().parse(config.routing_key) if f]

    @cached_property
    def broker(self) -> RabbitConnection:
        return settings(self.context, self.config)

    def describe(self) -> str:
        exchange = self.config.exchange or "(default exchange)"
        return f"rabbitmq {exchange} {self.config.routing_key}"

    @property
    def staging(self) -> Path:
        return Path(tempfile.gettempdir()) / "hygge-amqp" / self.tag

    def _channel(self, what: str) -> Any:
        if self._conn is None or not self._conn.is_open:
            self._conn = connect(self.broker, f"{self.describe()}: connect")
        with faults(self.broker, what):
            return self._conn.channel()

    def check(self) -> str | None:
        try:
            self._channel("connect")
        except Exception as exc:  # the check reports any fault as its one line
            return describe_error(exc)
        return None

    def recover(self) -> list[str]:
        # Staged files of crashed runs: nothing was published from a run that left them
        # without state, and a rerun stages afresh.
        done = []
        if self.staging.is_dir():
            for old in self.staging.iterdir():
                if old.name != self.context.run_id:
                    shutil.rmtree(old, ignore_errors=True)
                    done.append(f"removed messages staged by interrupted run {old.name}")
        return done

    def read_state(self) -> FlowState | None:
        channel = self._channel("read state")
        with faults(self.broker, f"{self.describe()}: read state"):
            channel.queue_declare(self.state_queue, durable=True, arguments={"x-max-length": 1})
            method, _, body = channel.basic_get(self.state_queue, auto_ack=False)
            if method is None:
                return None
            channel.basic_nack(method.delivery_tag, requeue=True)
        return FlowState.model_validate_json(body)

    def reset_state(self) -> bool:
        channel = self._channel("reset state")
        with faults(self.broker, f"{self.describe()}: reset state"):
            channel.queue_declare(self.state_queue, durable=True, arguments={"x-max-length": 1})
            return bool(channel.queue_purge(self.state_queue).method.message_count)

    def prepare(self, schema: pa.Schema) -> None:
        missing = [f for f in self._fields if f not in schema.names]
        if missing:
            raise PermanentError(
                f"routing_key '{self.config.routing_key}' uses {', '.join(missing)}, which "
                f"the home does not have; columns: {', '.join(schema.names)}"
            )
        if self.config.declare:
            kind = {"stream": "stream", "queue": "classic", "quorum": "quorum"}[self.config.declare]
            channel = self._channel("declare")
            with faults(self.broker, f"{self.describe()}: declare {self.config.routing_key}"):
                channel.queue_declare(
                    self.config.routing_key, durable=True, arguments={"x-queue-type": kind}
                )

    def stage(self, unit: WorkUnit, batches: Iterable[pa.RecordBatch]) -> StagedUnit:
        folder = self.staging / self.context.run_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{unit.seq:06d}.msgs"
        rows = size = 0
        template = self.config.routing_key
        seed = f"{self.context.flow}\0{unit.id}\0"
        with path.open("w", encoding="utf-8") as out:
            for batch in batches:
                for row in batch.to_pylist():
                    key = template.format(**row) if self._fields else template
                    mid = hashlib.sha256(f"{seed}{rows}".encode()).hexdigest()[:32]
                    body = json.dumps(row, default=_json_value, separators=(",", ":"))
                    line = json.dumps([key, mid]) + "\t" + body + "\n"
                    out.write(line)
                    rows += 1
                    size += len(body)
        return StagedUnit(unit.id, rows, size, {"file": str(path)})

    def commit(self, staged: list[StagedUnit], state: FlowState) -> None:
        import pika

        cfg = self.config
        channel = self._channel("publish")
        persistent = 2
        with faults(self.broker, f"{self.describe()}: publish"):
            channel.tx_select()
            pending = 0
            for receipt in staged:
                with open(receipt.payload["file"], encoding="utf-8") as lines:
                    for line in lines:
                        head, body = line.rstrip("\n").split("\t", 1)
                        key, mid = json.loads(head)
                        props = pika.BasicProperties(
                            message_id=mid,
                            delivery_mode=persistent,
                            content_type="application/json",
                        )
                        channel.basic_publish(cfg.exchange, key, body.encode(), props)
                        pending += 1
                        if pending >= cfg.publish_batch:
                            channel.tx_commit()
                            pending = 0
            channel.tx_commit()
            fault_point("commit.published")
            channel.queue_declare(self.state_queue, durable=True, arguments={"x-max-length": 1})
            channel.basic_publish(
                "",
                self.state_queue,
                state.model_dump_json().encode(),
                pika.BasicProperties(delivery_mode=persistent, content_type="application/json"),
            )
            channel.tx_commit()
        fault_point("commit.state")
        self._discard(staged)

    def abort(self, staged: list[StagedUnit]) -> None:
        self._discard(staged)

    def _discard(self, staged: list[StagedUnit]) -> None:
        for receipt in staged:
            if receipt is not None:
                Path(receipt.payload["file"]).unlink(missing_ok=True)
        folder = self.staging / self.context.run_id
        if folder.is_dir() and not any(folder.iterdir()):
            os.rmdir(folder)

    def close(self) -> None:
        close_quietly(self._conn)
        self._conn = None


def _json_value(value: Any) -> Any:
    """JSON for the values Arrow gives that json cannot write itself."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
