"""A flow's state: its incremental cursor and run history, kept in the store with the data.

Stores persist `FlowState` as JSON (a state row in a SQL store, a file beside a file store's
data) and always change it in the same atomic step as the data it describes.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, Field

HISTORY = 20  # runs kept per flow: enough to debug, small enough to rewrite on every commit


class CursorState(BaseModel):
    """The highest cursor value committed, with its Arrow type so it round-trips exactly."""

    column: str
    value: Any
    arrow_type: str

    def python_value(self) -> Any:
        """The cursor as the Python value Arrow would give for that column."""
        return decode_cursor(self.value, self.arrow_type)


class RunRecord(BaseModel):
    """One run of a flow: a committed one, or (`status` "failed", with its `error`) a run
    that failed after the flow had committed before, where the store keeps failures
    (`Store.record_failure`).

    `bytes` (Arrow in memory), `seconds` (start to commit or failure), `retries` (transient
    faults retried) and `status` were added later: records written before them read as 0
    and "ok".
    """

    run_id: str
    started_at: str
    finished_at: str
    mode: str
    rows: int
    units: int
    cursor_before: Any = None
    cursor_after: Any = None
    bytes: int = 0
    seconds: float = 0.0
    retries: int = 0
    status: str = "ok"
    error: str | None = None


class FlowState(BaseModel):
    """Everything a store remembers about a flow between runs."""

    flow: str
    cursor: CursorState | None = None
    position: Any = None  # a home's own bookmark (`Home.position`), e.g. a snapshot id
    runs: list[RunRecord] = Field(default_factory=list)

    def with_run(
        self, record: RunRecord, cursor: CursorState | None, position: Any = None
    ) -> FlowState:
        """A new state that records `record` (keeping the last runs), the new cursor and
        the home's new position (each kept as it was when None)."""
        runs = [*self.runs, record][-HISTORY:]
        return FlowState(
            flow=self.flow,
            cursor=cursor if cursor else self.cursor,
            position=position if position is not None else self.position,
            runs=runs,
        )


def encode_cursor(value: pa.Scalar) -> tuple[Any, str]:
    """Encode an Arrow scalar as (JSON value, type name) with no loss.

    Timestamps and dates are stored as their integer storage value so that neither time zone
    rendering nor float rounding can move the boundary.
    """
    t = value.type
    if pa.types.is_timestamp(t):
        return value.cast(pa.int64()).as_py(), f"timestamp:{t.unit}:{t.tz or ''}"
    if pa.types.is_date32(t):
        return value.cast(pa.int32()).as_py(), "date32"
    if pa.types.is_date64(t):
        return value.cast(pa.int64()).as_py(), "date64"
    if pa.types.is_decimal(t):
        return str(value.as_py()), f"decimal:{t.precision}:{t.scale}"
    if pa.types.is_integer(t):
        return value.as_py(), "int"
    if pa.types.is_floating(t):
        return value.as_py(), "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return value.as_py(), "string"
    raise TypeError(f"cursor columns of type {t} are not supported")


def decode_cursor(value: Any, arrow_type: str) -> Any:
    """Invert `encode_cursor`, giving the Python value Arrow produces for that type."""
    kind, *rest = arrow_type.split(":")
    if kind == "timestamp":
        unit, tz = rest[0], rest[1] or None
        return pa.scalar(value, pa.int64()).cast(pa.timestamp(unit, tz)).as_py()
    if kind == "date32":
        return dt.date(1970, 1, 1) + dt.timedelta(days=value)
    if kind == "date64":
        return pa.scalar(value, pa.int64()).cast(pa.date64()).as_py()
    if kind == "decimal":
        return decimal.Decimal(value)
    return value


def cursor_arrow_type(arrow_type: str) -> pa.DataType:
    """The Arrow type a stored cursor came from (used to build pushed-down filters)."""
    kind, *rest = arrow_type.split(":")
    if kind == "timestamp":
        return pa.timestamp(rest[0], rest[1] or None)
    if kind == "decimal":
        return pa.decimal128(int(rest[0]), int(rest[1]))
    return {
        "date32": pa.date32(),
        "date64": pa.date64(),
        "int": pa.int64(),
        "float": pa.float64(),
        "string": pa.string(),
    }[kind]


def now_iso() -> str:
    """The current UTC time as ISO-8601, as recorded in run history."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
