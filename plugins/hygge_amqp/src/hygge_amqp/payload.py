"""Messages to Arrow: JSON payloads parsed in bulk by Arrow's JSON reader, text or bytes
payloads as one `body` column, and message properties as `_`-prefixed columns."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson

from hygge_amqp.config import OFFSET
from hygge_core import PermanentError, first_line

BODY = "body"
META_TYPES: dict[str, pa.DataType] = {
    "routing_key": pa.string(),
    "exchange": pa.string(),
    "message_id": pa.string(),
    "timestamp": pa.timestamp("s", tz="UTC"),  # AMQP 0-9-1 timestamps are whole seconds
    "headers": pa.string(),  # JSON text: header values are free-form
    "redelivered": pa.bool_(),
}
_ROW = re.compile(r"\brow (\d+)")


@dataclass
class Message:
    """One delivered message, reduced to what the columns need (no pika objects kept)."""

    body: bytes
    offset: int | None = None
    routing_key: str | None = None
    exchange: str | None = None
    message_id: str | None = None
    timestamp: int | None = None
    headers: dict[str, Any] | None = field(default=None)
    redelivered: bool = False

    def where(self) -> str:
        """How to find this message again, for errors."""
        if self.offset is not None:
            return f"offset {self.offset}"
        return f"message id {self.message_id}" if self.message_id else "a message without id"


def arrow_type(name: str, text: str) -> pa.DataType:
    """`columns:` type names: Arrow's aliases (int64, string, bool, float64, date32,
    timestamp[us], ...), plus `timestamp[us, UTC]` for an aware timestamp."""
    match = re.fullmatch(r"timestamp\[(s|ms|us|ns),\s*(.+)\]", text.strip())
    if match:
        return pa.timestamp(match.group(1), tz=match.group(2))
    try:
        return pa.type_for_alias(text.strip())
    except (ValueError, KeyError):
        raise PermanentError(
            f"columns: {name}: unknown type '{text}'; use an Arrow type name such as int64, "
            "float64, string, bool, date32, timestamp[us] or timestamp[us, UTC]"
        ) from None


def declared_schema(columns: dict[str, str]) -> pa.Schema:
    """The schema `columns:` declares."""
    return pa.schema([pa.field(n, arrow_type(n, t)) for n, t in columns.items()])


def payload_schema(fmt: str, columns: dict[str, str] | None, sample: list[Message]) -> pa.Schema:
    """The payload's columns: declared, inferred from `sample`, or the one `body` column."""
    if fmt == "text":
        return pa.schema([pa.field(BODY, pa.string())])
    if fmt == "bytes":
        return pa.schema([pa.field(BODY, pa.binary())])
    if columns:
        return declared_schema(columns)
    if not sample:
        raise PermanentError(
            "no message to infer the JSON columns from; declare them with columns: "
            "{name: type, ...}"
        )
    inferred = _parse(sample, None).schema
    # A field that is null in every sampled message has no type yet: read it as text.
    return pa.schema(
        [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in inferred]
    )


def full_schema(payload: pa.Schema, metadata: list[str], stream: bool) -> pa.Schema:
    """Payload columns, then the stream offset, then the chosen metadata columns."""
    fields = list(payload)
    if stream:
        fields.append(pa.field(OFFSET, pa.int64(), nullable=False))
    fields += [pa.field(f"_{name}", META_TYPES[name]) for name in metadata]
    return pa.schema(fields)


def to_batch(
    messages: list[Message], schema: pa.Schema, fmt: str, metadata: list[str], stream: bool
) -> pa.RecordBatch:
    """One record batch of `schema` from `messages`."""
    extra = (1 if stream else 0) + len(metadata)
    payload = pa.schema(list(schema)[: len(schema) - extra])
    if fmt == "json":
        table = _parse(messages, payload)
        columns = [table.column(n).combine_chunks() for n in payload.names]
    elif fmt == "text":
        try:
            columns = [pa.array([m.body.decode("utf-8") for m in messages], pa.string())]
        except UnicodeDecodeError:
            bad = next(m for m in messages if not _utf8(m.body))
            raise PermanentError(
                f"message at {bad.where()} is not UTF-8 text; read it with format: bytes"
            ) from None
    else:
        columns = [pa.array([m.body for m in messages], pa.binary())]
    if stream:
        columns.append(pa.array([m.offset for m in messages], pa.int64()))
    for name in metadata:
        values: list[Any] = [getattr(m, name) for m in messages]
        if name == "headers":
            values = [None if v is None else json.dumps(v, default=_plain) for v in values]
        columns.append(pa.array(values, META_TYPES[name]))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _parse(messages: list[Message], schema: pa.Schema | None) -> pa.Table:
    lines = []
    for m in messages:
        body = m.body
        if b"\n" in body or b"\r" in body:  # pretty-printed: one line per message for Arrow
            try:
                body = json.dumps(json.loads(body)).encode()
            except ValueError as exc:
                raise _bad_json(m, first_line(exc)) from None
        lines.append(body)
    # Arrow's JSON reader parses timestamps from text but not dates: read dates as text,
    # then cast (an ISO date such as 2026-01-31, as hygge's store writes them).
    dates = [f.name for f in schema or [] if pa.types.is_date(f.type)]
    parse = schema
    if schema is not None and dates:
        parse = pa.schema([pa.field(f.name, pa.string()) if f.name in dates else f for f in schema])
    options = pajson.ParseOptions(
        explicit_schema=parse, unexpected_field_behavior="ignore" if schema else "infer"
    )
    try:
        table = pajson.read_json(io.BytesIO(b"\n".join(lines)), parse_options=options)
        for name in dates:
            assert schema is not None
            i = table.schema.get_field_index(name)
            table = table.set_column(
                i, schema.field(name), table.column(i).cast(schema.field(name).type)
            )
        return table
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        text = first_line(exc)
        row = _ROW.search(text)
        if row and int(row.group(1)) < len(messages):
            raise _bad_json(messages[int(row.group(1))], text) from None
        raise PermanentError(
            f"JSON payloads between {messages[0].where()} and {messages[-1].where()} do not "
            f"fit the columns: {text}"
        ) from None


def _bad_json(message: Message, why: str) -> PermanentError:
    return PermanentError(
        f"message at {message.where()}: {why}; a JSON object per message is expected "
        "(declare columns: with the right types, or read it with format: text)"
    )


def _utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
