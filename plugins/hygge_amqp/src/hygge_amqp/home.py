"""The RabbitMQ home: a stream read by offset, or a queue consumed and acknowledged only
after the store committed.

Stream (`stream: NAME`): the offset is the flow's incremental cursor (`_offset`), committed
with the data by every store. A run plans one unit from the offset after the committed one
to the stream's last offset seen at plan time (or, with `follow: true`, onwards until
`max_seconds` / `max_messages`). A crash anywhere leaves the committed offset where it was,
so the rerun reads the same messages again: exactly once by construction.

Queue (`queue: NAME`): consumed with manual acknowledgement within a prefetch window. The
messages stay unacknowledged through staging and the commit; `committed()` acks them. A
crash before the ack makes the broker deliver them again, and the flow's committed state
holds the ids of the last `dedupe_window` messages committed (the message id, else a hash
of the body), so the rerun drops those it already stored. The queue's connection must live
from the read to the ack, so a queue flow runs its unit in the hygge process itself
(`single_process`).
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Iterator
from functools import cached_property
from typing import Any

import pyarrow as pa

from hygge_amqp.config import OFFSET, RabbitConnection, RabbitHomeConfig
from hygge_amqp.connect import close_quietly, connect, faults, settings
from hygge_amqp.payload import Message, full_schema, payload_schema, to_batch
from hygge_core import (
    FlowContext,
    FlowState,
    Home,
    PermanentError,
    Window,
    WorkUnit,
    describe_error,
)

STALL_SECONDS = 5.0  # a bounded stream read ends early after this long without a message
DIGEST = 8  # bytes of a message's id hash kept in the state (collisions: ~n²/2⁶⁵)


def message_key(message_id: str | None, body: bytes) -> bytes:
    """What identifies a message for deduplication: its id, else its body."""
    source = b"i" + message_id.encode() if message_id else b"b" + body
    return hashlib.blake2b(source, digest_size=DIGEST).digest()


class RabbitHome(Home):
    """Reads a RabbitMQ stream or queue (see the module docstring)."""

    config_model = RabbitHomeConfig
    connection_model = RabbitConnection
    supports_incremental = True
    transient = ("_conn", "_channel")

    def __init__(self, config: RabbitHomeConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: RabbitHomeConfig = config
        self._conn: Any = None
        self._channel: Any = None
        self._committed_ids: list[bytes] = []
        self._seen: list[bytes] = []  # ids read this attempt, in order (kept or dropped)
        self._last_tag: int | None = None
        self.dropped = 0

    # --- shared ----------------------------------------------------------------------------

    @property
    def single_process(self) -> bool:  # type: ignore[override]
        # A queue's unacked messages belong to the connection that read them, which must
        # still be open when the store has committed.
        return self.config.queue is not None

    @cached_property
    def broker(self) -> RabbitConnection:
        return settings(self.context, self.config)

    @property
    def name(self) -> str:
        return self.config.stream or self.config.queue or ""

    def describe(self) -> str:
        kind = "stream" if self.config.stream else "queue"
        return f"rabbitmq {kind} {self.name}"

    def check(self) -> str | None:
        try:
            conn = connect(self.broker, f"{self.describe()}: connect")
            try:
                with faults(self.broker, self.describe()):
                    conn.channel().queue_declare(self.name, passive=True)
            finally:
                close_quietly(conn)
        except Exception as exc:  # the check reports any fault as its one line
            return describe_error(exc)
        return None

    @cached_property
    def _schema(self) -> pa.Schema:
        cfg = self.config
        sample: list[Message] = []
        if cfg.format == "json" and not cfg.columns:
            if cfg.queue is not None:
                raise PermanentError(
                    f"queue {cfg.queue}: declare the JSON fields with columns: {{name: type}}; "
                    "a queue cannot be sampled without taking its messages"
                )
            sample = list(self._stream_messages(0, None, limit=cfg.infer_messages, sample=True))
        payload = payload_schema(cfg.format, cfg.columns, sample)
        clash = [
            n for n in payload.names if n == OFFSET or (n.startswith("_") and n[1:] in cfg.metadata)
        ]
        if clash:
            raise PermanentError(
                f"JSON field(s) {', '.join(clash)} clash with hygge-amqp's metadata columns; "
                "leave them out of metadata: or rename them in columns:"
            )
        return full_schema(payload, list(cfg.metadata), cfg.stream is not None)

    def schema(self) -> pa.Schema:
        return self._schema

    def begin(self, state: FlowState | None) -> None:
        # A fresh attempt: what a failed one read was never acked, and comes again.
        self.close()
        position = state.position if state is not None else None
        raw = position.get("ids", "") if isinstance(position, dict) else ""
        blob = base64.b64decode(raw) if raw else b""
        self._committed_ids = [blob[i : i + DIGEST] for i in range(0, len(blob), DIGEST)]
        self._seen, self._last_tag, self.dropped = [], None, 0

    def plan(self, window: Window | None) -> list[WorkUnit]:
        if self.config.stream is not None:
            return self._plan_stream(window)
        return self._plan_queue()

    def read(self, unit: WorkUnit) -> Iterator[pa.RecordBatch]:
        cfg = self.config
        if cfg.stream is not None:
            messages = self._stream_messages(unit.payload["start"], unit.payload["end"])
        else:
            messages = self._queue_messages(unit.payload["expect"])
        chunk: list[Message] = []
        meta, stream = list(cfg.metadata), cfg.stream is not None
        for message in messages:
            chunk.append(message)
            if len(chunk) >= cfg.batch_rows:
                yield to_batch(chunk, self._schema, cfg.format, meta, stream)
                chunk = []
        if chunk:
            yield to_batch(chunk, self._schema, cfg.format, meta, stream)

    def position(self) -> dict[str, Any] | None:
        if self.config.queue is None:
            return None
        window = self.config.dedupe_window
        seen = set(self._seen)
        kept = [k for k in self._committed_ids if k not in seen] + self._seen
        kept = kept[-window:] if window else []
        return {"ids": base64.b64encode(b"".join(kept)).decode("ascii"), "window": window}

    def committed(self, state: FlowState) -> None:
        if self._last_tag is None or self._channel is None:
            return
        with faults(self.broker, f"{self.describe()}: acknowledge"):
            self._channel.basic_ack(self._last_tag, multiple=True)
        self._last_tag = None

    def close(self) -> None:
        close_quietly(self._conn)
        self._conn = self._channel = None

    # --- streams ---------------------------------------------------------------------------

    def _plan_stream(self, window: Window | None) -> list[WorkUnit]:
        after = window.after if window is not None else None
        start = 0 if after is None else int(after) + 1
        if self.config.follow:
            end = None
        else:
            last = self._last_offset()
            if last is None or last < start:
                return []
            end = last
        span = None if end is None else end - start + 1
        return [
            WorkUnit(
                id=f"{self.name}@{start}",
                payload={"start": start, "end": end},
                estimated_rows=span,
            )
        ]

    def _last_offset(self) -> int | None:
        """The offset of the stream's last message now (None: empty), from its last chunk."""
        conn = connect(self.broker, f"{self.describe()}: connect")
        try:
            with faults(self.broker, f"{self.describe()}: find the end"):
                channel = conn.channel()
                count = channel.queue_declare(self.name, passive=True).method.message_count
                channel.basic_qos(prefetch_count=1000)
                last = None
                args = {"x-stream-offset": "last"}
                # The broker sends the last chunk at once; its count (approximate for a
                # stream) says whether to wait for one at all, on a busy broker.
                until = time.monotonic() + (10.0 if count else 0.5)
                for method, props, _ in channel.consume(
                    self.name, arguments=args, inactivity_timeout=0.3
                ):
                    if method is None:
                        if last is None and time.monotonic() < until:
                            continue
                        break  # the chunk is over (its messages come at once)
                    last = int((props.headers or {})["x-stream-offset"])
                    channel.basic_ack(method.delivery_tag, multiple=True)
                return last
        finally:
            close_quietly(conn)

    def _stream_messages(
        self, start: int, end: int | None, limit: int | None = None, sample: bool = False
    ) -> Iterator[Message]:
        cfg = self.config
        limit = limit or cfg.max_messages
        deadline = time.monotonic() + cfg.max_seconds if cfg.max_seconds else None
        conn = connect(self.broker, f"{self.describe()}: connect")
        # A bounded read expects its last offset: wait longer for it (a busy broker).
        idle = (
            0.3
            if sample
            else cfg.idle_seconds
            if end is None
            else max(cfg.idle_seconds, STALL_SECONDS)
        )
        try:
            with faults(self.broker, f"{self.describe()}: read"):
                channel = conn.channel()
                channel.basic_qos(prefetch_count=cfg.prefetch)
                arguments = {"x-stream-offset": "first" if sample else start}
                count, unacked = 0, 0
                for method, props, body in channel.consume(
                    self.name, arguments=arguments, inactivity_timeout=idle
                ):
                    if method is None:
                        if (
                            cfg.follow
                            and not sample
                            and (deadline is None or time.monotonic() < deadline)
                        ):
                            continue
                        # The end seen at plan time did not come (offsets may skip, and
                        # retention may have removed it): stop here; the offset committed
                        # is the last one read, so the next run goes on from there.
                        break
                    offset = int((props.headers or {}).get("x-stream-offset", -1))
                    unacked += 1
                    if unacked >= max(1, cfg.prefetch // 2):
                        # On a stream an ack only grants credit: the offset is our state.
                        channel.basic_ack(method.delivery_tag, multiple=True)
                        unacked = 0
                    if offset < start:
                        continue
                    if end is not None and offset > end:
                        break
                    yield _message(method, props, body, offset)
                    count += 1
                    if (limit and count >= limit) or (end is not None and offset >= end):
                        break
                    if deadline is not None and time.monotonic() >= deadline:
                        break
        finally:
            close_quietly(conn)

    # --- queues ----------------------------------------------------------------------------

    def _open_queue(self) -> Any:
        if self._channel is None:
            self._conn = connect(self.broker, f"{self.describe()}: connect")
            with faults(self.broker, f"{self.describe()}: open"):
                self._channel = self._conn.channel()
        return self._channel

    def _plan_queue(self) -> list[WorkUnit]:
        cfg = self.config
        channel = self._open_queue()
        with faults(self.broker, f"{self.describe()}: count"):
            ready = channel.queue_declare(self.name, passive=True).method.message_count
        cap = min(cfg.max_messages or cfg.prefetch, cfg.prefetch)
        expect = cap if cfg.follow else min(ready, cap)
        if expect == 0:
            return []
        # A queue gives no run the same messages twice, so a crashed run's staged unit must
        # never be adopted (its messages come again, unacked: adopted, they would land, be
        # remembered by no id and never be acked, and the next run would land them again).
        # A payload of its own per read makes the unit's fingerprint new each time; the
        # store drops the crashed run's staging at the next commit.
        payload = {"expect": expect, "read": uuid.uuid4().hex}
        return [WorkUnit(id=f"queue:{self.name}", payload=payload, estimated_rows=expect)]

    def _queue_messages(self, expect: int) -> Iterator[Message]:
        cfg = self.config
        channel = self._open_queue()
        committed = set(self._committed_ids)
        seen: set[bytes] = set()
        deadline = time.monotonic() + cfg.max_seconds if cfg.max_seconds else None
        taken = 0
        with faults(self.broker, f"{self.describe()}: consume"):
            channel.basic_qos(prefetch_count=min(cfg.prefetch, expect))
            for method, props, body in channel.consume(
                self.name, inactivity_timeout=cfg.idle_seconds
            ):
                if method is None:
                    if cfg.follow and deadline is not None and time.monotonic() < deadline:
                        continue
                    break
                self._last_tag = method.delivery_tag
                taken += 1
                key = message_key(props.message_id, body)
                if key in committed or key in seen:
                    # Stored by an earlier run whose ack never arrived (or published twice):
                    # acked with the rest, and its id kept fresh in the window.
                    self.dropped += 1
                    if key not in seen:
                        seen.add(key)
                        self._seen.append(key)
                else:
                    seen.add(key)
                    self._seen.append(key)
                    yield _message(method, props, body, None)
                if taken >= expect or (deadline is not None and time.monotonic() >= deadline):
                    break
            channel.cancel()  # requeues what pika fetched beyond `expect`; ours stay unacked


def _message(method: Any, props: Any, body: bytes, offset: int | None) -> Message:
    headers = dict(props.headers) if props.headers else None
    if headers is not None:
        headers.pop("x-stream-offset", None)
    return Message(
        body=body,
        offset=offset,
        routing_key=method.routing_key,
        exchange=method.exchange,
        message_id=props.message_id,
        timestamp=props.timestamp,
        headers=headers or None,
        redelivered=bool(method.redelivered),
    )
