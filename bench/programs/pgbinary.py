"""Vectorised encoder from Arrow record batches to PostgreSQL's binary COPY format.

Used by the psycopg binary COPY reference program and by ``gen.py`` to load the source table.
Encoding row by row in Python costs microseconds per value; here every column is turned into an
Arrow binary array of ``int32 length + big-endian payload`` with numpy, adjacent fixed-width
columns are packed into one record, and Arrow's ``binary_join_element_wise`` kernel glues the
fields of each row together. The joined array's value buffer is exactly the COPY payload.
"""

from __future__ import annotations

import struct

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_TRAILER = struct.pack("!h", -1)

# PostgreSQL counts timestamps and dates from 2000-01-01, Arrow from 1970-01-01.
_PG_EPOCH_US = 946_684_800_000_000
_PG_EPOCH_DAYS = 10_957
_NULL_FIELD = pa.scalar(struct.pack("!i", -1), pa.large_binary())
_NO_SEPARATOR = pa.scalar(b"", pa.large_binary())


def pg_type(dtype: pa.DataType) -> str:
    """PostgreSQL column type for an Arrow type (the subset the benchmark uses)."""
    if pa.types.is_int64(dtype):
        return "bigint"
    if pa.types.is_int32(dtype):
        return "integer"
    if pa.types.is_int16(dtype) or pa.types.is_int8(dtype):
        return "smallint"
    if pa.types.is_float64(dtype):
        return "double precision"
    if pa.types.is_float32(dtype):
        return "real"
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_timestamp(dtype):
        return "timestamptz" if dtype.tz else "timestamp"
    if pa.types.is_date(dtype):
        return "date"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "text"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return "bytea"
    raise TypeError(f"no PostgreSQL type for Arrow type {dtype}")


def quote_ident(name: str) -> str:
    """Quote an SQL identifier, allowing a ``schema.table`` dotted name."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def create_table_sql(table: str, schema: pa.Schema) -> str:
    """``CREATE TABLE`` statement whose columns follow an Arrow schema."""
    cols = ", ".join(f"{quote_ident(f.name)} {pg_type(f.type)}" for f in schema)
    return f"CREATE TABLE {quote_ident(table)} ({cols})"


def _fixed_values(arr: pa.Array) -> np.ndarray:
    """Big-endian numpy values of a fixed-width column, nulls filled with zero."""
    t = arr.type
    if arr.null_count:
        arr = arr.fill_null(False if pa.types.is_boolean(t) else 0)
    if pa.types.is_boolean(t):
        return arr.to_numpy(zero_copy_only=False).astype("u1")
    if pa.types.is_timestamp(t):
        us = arr.cast(pa.timestamp("us", tz=t.tz)).cast(pa.int64()).to_numpy()
        return (us - _PG_EPOCH_US).astype(">i8")
    if pa.types.is_date32(t):
        return (arr.cast(pa.int32()).to_numpy() - _PG_EPOCH_DAYS).astype(">i4")
    if pa.types.is_int8(t):
        return arr.to_numpy().astype(">i2")
    values = arr.to_numpy()
    return values.astype(values.dtype.newbyteorder(">"))


def _as_fixed_binary(rec: np.ndarray) -> pa.Array:
    """View a packed numpy record array as an Arrow large_binary array (one value per row)."""
    width = rec.dtype.itemsize
    fsb = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), len(rec), [None, pa.py_buffer(np.ascontiguousarray(rec))]
    )
    return fsb.cast(pa.large_binary())


def _pack(columns: list[np.ndarray], with_count: int | None = None) -> pa.Array:
    """Pack several fixed-width columns (each preceded by its length word) into one record."""
    fields: list[tuple[str, str]] = []
    if with_count is not None:
        fields.append(("n", ">i2"))
    for i, values in enumerate(columns):
        fields += [(f"l{i}", ">i4"), (f"v{i}", values.dtype.str)]
    n = len(columns[0]) if columns else 0
    rec = np.empty(n, dtype=np.dtype(fields))  # numpy packs fields without padding
    if with_count is not None:
        rec["n"] = with_count
    for i, values in enumerate(columns):
        rec[f"l{i}"] = values.dtype.itemsize
        rec[f"v{i}"] = values
    return _as_fixed_binary(rec)


def _variable_field(arr: pa.Array) -> list[pa.Array]:
    """Length words and payload of a text/bytea column (two arrays to be joined)."""
    data = arr.cast(pa.large_binary())
    lengths = pc.binary_length(data).fill_null(0).to_numpy().astype(">i4")
    return [_as_fixed_binary(lengths), data.fill_null(b"")]


def encode_batch(batch: pa.RecordBatch) -> pa.Buffer:
    """Encode one record batch as binary COPY tuples (no header, no trailer)."""
    n = batch.num_rows
    if n == 0:
        return pa.py_buffer(b"")
    parts: list[pa.Array] = []
    pending: list[np.ndarray] = []
    count: int | None = batch.num_columns  # the tuple's field count goes before the first field

    def flush() -> None:
        nonlocal count
        if pending or count is not None:
            parts.append(_pack(pending, count) if pending else _pack_count(n, count))
            pending.clear()
            count = None

    for arr in batch.columns:
        t = arr.type
        fixed = not (
            pa.types.is_string(t)
            or pa.types.is_large_string(t)
            or pa.types.is_binary(t)
            or pa.types.is_large_binary(t)
        )
        if fixed and arr.null_count == 0:
            pending.append(_fixed_values(arr))
            continue
        flush()
        if fixed:
            field = _pack([_fixed_values(arr)])
        else:
            length_words, payload = _variable_field(arr)
            field = pc.binary_join_element_wise(length_words, payload, _NO_SEPARATOR)
        if arr.null_count:
            field = pc.if_else(arr.is_null(), _NULL_FIELD, field)
        parts.append(field)
    flush()
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, _NO_SEPARATOR)
    offsets = np.frombuffer(
        joined.buffers()[1], dtype=np.int64, count=n + 1, offset=joined.offset * 8
    )
    return joined.buffers()[2][int(offsets[0]) : int(offsets[-1])]


def _pack_count(n: int, count: int) -> pa.Array:
    """A column of the int16 field count alone (when the first column is variable-width)."""
    rec = np.full(n, count, dtype=">i2")
    return _as_fixed_binary(rec)
