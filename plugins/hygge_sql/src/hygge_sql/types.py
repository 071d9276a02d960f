"""Arrow ↔ SQL types, and moving arrays between what a database returns and what hygge yields.

The mapping is faithful: integers keep their width, `numeric(p,s)` is `decimal128(p,s)`,
timestamps keep microseconds and whether they have a zone, text and bytes stay text and bytes.
Types Arrow has no faithful twin for (json, uuid, intervals, enums, arrays, anything unknown)
are read as their text form. Each backend refines the generic rules here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.sql.sqltypes import _AbstractInterval, _Binary

from hygge_core import PermanentError, first_line


@dataclass(frozen=True)
class Column:
    """A column as hygge reads it: its name, the Arrow type it yields, and whether the
    database must send it as text (types Arrow has no faithful twin for)."""

    name: str
    arrow: pa.DataType
    as_text: bool = False


def arrow_for_sqlalchemy(t: sa.types.TypeEngine[Any]) -> tuple[pa.DataType, bool]:
    """(Arrow type, read as text?) for a reflected SQLAlchemy type, by its generic family."""
    if isinstance(t, sa.Boolean):
        return pa.bool_(), False
    if isinstance(t, sa.Integer):
        if isinstance(t, sa.BigInteger):
            return pa.int64(), False
        if isinstance(t, sa.SmallInteger):
            return pa.int16(), False
        return pa.int32(), False
    if isinstance(t, sa.Float):
        if isinstance(t, sa.Double):
            return pa.float64(), False
        # REAL and FLOAT(p ≤ 24) are single precision; FLOAT(25+) and bare FLOAT double.
        precision = getattr(t, "precision", None)
        if isinstance(t, sa.REAL) or (precision is not None and precision <= 24):
            return pa.float32(), False
        return pa.float64(), False
    if isinstance(t, sa.Numeric):
        return decimal_type(t.precision, t.scale)
    if isinstance(t, sa.DateTime):
        return pa.timestamp("us", tz="UTC" if t.timezone else None), False
    if isinstance(t, sa.Date):
        return pa.date32(), False
    if isinstance(t, sa.Time):
        if t.timezone:  # a time with an offset has no Arrow twin
            return pa.string(), True
        return pa.time64("us"), False
    if isinstance(t, _AbstractInterval | sa.JSON | sa.Uuid | sa.Enum | sa.ARRAY):
        return pa.string(), True
    if isinstance(t, sa.String):
        return pa.string(), False
    if isinstance(t, _Binary):
        return pa.binary(), False
    return pa.string(), True


def decimal_type(precision: int | None, scale: int | None) -> tuple[pa.DataType, bool]:
    """`numeric(p,s)` → decimal128 (decimal256 beyond 38 digits); unconstrained `numeric`
    holds any number of digits, which only its text keeps."""
    if precision is None:
        return pa.string(), True
    scale = scale or 0
    if precision <= 38:
        return pa.decimal128(precision, scale), False
    if precision <= 76:
        return pa.decimal256(precision, scale), False
    return pa.string(), True


def canonical(t: pa.DataType, column: str) -> pa.DataType:
    """The Arrow type a column is stored as: every type a SQL table can hold faithfully.

    Dictionary columns store their values; large and view variants their plain twin;
    timestamps go to microseconds (what SQL databases hold); nested types are refused.
    """
    if pa.types.is_dictionary(t):
        return canonical(t.value_type, column)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_fixed_size_binary(t):
        return pa.binary()
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC" if t.tz else None)
    if pa.types.is_date64(t):
        return pa.date32()
    if pa.types.is_time(t):
        return pa.time64("us")
    if pa.types.is_null(t):
        return pa.string()
    if (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_date32(t)
        or pa.types.is_decimal(t)
    ):
        return t
    raise PermanentError(
        f"column '{column}' has type {t}, which a SQL table cannot hold; "
        "select the columns to load or flatten it first"
    )


def coerce(array: pa.Array | pa.ChunkedArray, target: pa.DataType, column: str) -> pa.Array:
    """`array` as `target`, refusing any loss (overflow, truncated time, bad text)."""
    if isinstance(array.type, pa.ExtensionType):
        array = array.storage
    if array.type.equals(target):
        return array
    try:
        if pa.types.is_time(target) and (
            pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
        ):
            # Arrow parses no bare times: read 'HH:MM:SS.ffffff' as a time on 1970-01-01.
            import pyarrow.compute as pc  # here: a read whose types match never needs it

            stamps = pc.binary_join_element_wise("1970-01-01 ", array, "").cast(pa.timestamp("us"))
            return stamps.cast(pa.int64()).cast(pa.time64("us")).cast(target)
        if pa.types.is_timestamp(target) and pa.types.is_timestamp(array.type):
            if target.tz and not array.type.tz:  # a naive value is taken as UTC
                array = array.cast(pa.timestamp(array.type.unit, "UTC"))
            elif array.type.tz and not target.tz:  # keep the UTC wall time
                array = array.cast(pa.timestamp(array.type.unit))
        if pa.types.is_boolean(target) and pa.types.is_string(array.type):
            array = array.cast(pa.int64())
        return array.cast(target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        detail = first_line(exc)
        raise PermanentError(
            f"column '{column}': cannot convert {array.type} to {target}: {detail}"
        ) from None


def from_python(values: Sequence[Any], target: pa.DataType, column: str) -> pa.Array:
    """An Arrow array of `target` from the Python values a DB-API driver returned."""
    try:
        return pa.array(values, type=target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        pass
    if pa.types.is_time(target):
        # Drivers return TIME as timedelta (MySQL) or text (SQLite).
        values = [_as_time(v) for v in values]
    try:
        return coerce(pa.array(values), target, column)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise PermanentError(
            f"column '{column}': values do not fit {target}: {first_line(exc)}"
        ) from None


def _as_time(value: Any) -> Any:
    if isinstance(value, dt.timedelta):
        return (dt.datetime.min + value).time()
    return value


def detach(batch: pa.RecordBatch, schema: pa.Schema, offset: int = 0) -> pa.RecordBatch:
    """`batch` coerced to `schema`, in memory of Arrow's own pool.

    A driver's batch (ADBC's, allocated with malloc) stays alive, every column of it, as
    long as one column is referenced: the batches waiting in hygge's queue and in a
    Parquet row group would hold several times the bytes the queue's budget counts, and
    freeing them later in another thread fragments malloc's heap. Columns the conversion
    did not already copy are copied (a memcpy), so the driver's memory is released here.
    `offset` skips leading columns (a marker column the reader added).
    """
    arrays = []
    for i, field in enumerate(schema):
        source = batch.column(i + offset)
        result = coerce(source, field.type, field.name)
        shared = {b.address for b in source.buffers() if b is not None}
        if any(b is not None and b.address in shared for b in result.buffers()):
            result = pa.concat_arrays([result])
        arrays.append(result)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
