"""Arrow record batches as PostgreSQL binary COPY data, encoded column by column.

Encoding row by row in Python costs microseconds per value. Here each column becomes an Arrow
binary array whose values are that column's COPY fields (`int32 length` + big-endian payload)
built with numpy; runs of fixed-width columns without NULLs are packed into one numpy record
per row; Arrow's `binary_join_element_wise` glues a row's fields together, and the joined
array's value buffer is exactly the COPY payload of the batch.

`encodable` tells which storage types this handles; the backend loads any other schema
through its previous path (ADBC ingest).
"""

from __future__ import annotations

import contextlib
import queue
import struct
import threading
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)

# PostgreSQL counts timestamps and dates from 2000-01-01, Arrow from 1970-01-01.
_EPOCH_US = 946_684_800_000_000
_EPOCH_DAYS = 10_957
_NULL = struct.pack("!i", -1)


def _pool() -> pa.MemoryPool:
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc
        return pa.system_memory_pool()


# The encoder's memory comes from a pool of its own, and it encodes at most ROWS rows at a
# time. Arrow's default pool (mimalloc) hands freed pages back to the OS within milliseconds,
# and big buffers are given back by any allocator: encoding whole 131,072-row batches faulted
# in 1.4 GB of fresh pages per 5M rows, costing more system CPU time than the encoding itself.
_POOL = _pool()


def _fixed_width(t: pa.DataType) -> bool:
    return (
        pa.types.is_boolean(t)
        or pa.types.is_int16(t)
        or pa.types.is_int32(t)
        or pa.types.is_int64(t)
        or pa.types.is_float32(t)
        or pa.types.is_float64(t)
        or (pa.types.is_timestamp(t) and t.unit == "us")
        or pa.types.is_date32(t)
        or (pa.types.is_time64(t) and t.unit == "us")
        or (pa.types.is_decimal(t) and 0 <= t.scale <= t.precision)  # 128 or 256 bits
    )


def _variable_width(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_binary(t)


def encodable(schema: pa.Schema) -> bool:
    """Whether every column of `schema` (storage types) has an encoding here."""
    return all(_fixed_width(f.type) or _variable_width(f.type) for f in schema)


def order(schema: pa.Schema) -> list[int]:
    """The order the columns are sent in: fixed-width ones first, so that a row's count and
    its fixed-width fields make one packed record (COPY takes any column order)."""
    fixed = [i for i, f in enumerate(schema) if _fixed_width(f.type)]
    return fixed + [i for i in range(len(schema)) if i not in fixed]


def _values(arr: pa.Array) -> np.ndarray:
    """The big-endian binary form of a fixed-width column's values (NULLs as zero)."""
    t = arr.type
    if arr.null_count:
        zero = pa.scalar(False if pa.types.is_boolean(t) else 0, t)
        arr = pc.coalesce(arr, zero, memory_pool=_POOL)
    if pa.types.is_boolean(t):
        return arr.to_numpy(zero_copy_only=False).astype("u1")
    if pa.types.is_timestamp(t):
        return (arr.view(pa.int64()).to_numpy() - _EPOCH_US).astype(">i8")
    if pa.types.is_date32(t):
        return (arr.view(pa.int32()).to_numpy() - _EPOCH_DAYS).astype(">i4")
    if pa.types.is_time64(t):  # microseconds since midnight, as PostgreSQL's time
        return arr.view(pa.int64()).to_numpy().astype(">i8")
    if pa.types.is_decimal(t):
        return _numeric(arr)
    values = arr.to_numpy()
    return values.astype(values.dtype.newbyteorder(">"))


def _numeric(arr: pa.Array) -> np.ndarray:
    """Decimals as PostgreSQL's binary NUMERIC: (digit count, weight, sign, display scale)
    then base-10,000 digits, most significant first; a fixed count of digits per column, so
    the field has a fixed width (PostgreSQL drops the leading and trailing zero digits).

    The unscaled integers (two's complement, little-endian, 32-bit limbs) are turned into
    their absolute values, divided by 10,000 limb by limb to get the digits, and shifted by
    a power of ten so that the digits line up with the decimal point.
    """
    t = arr.type
    n = len(arr)
    words = t.byte_width // 4
    data = arr.buffers()[1]
    limbs = np.frombuffer(data, dtype="<u4", count=n * words, offset=arr.offset * t.byte_width)
    limbs = limbs.reshape(n, words).astype(np.uint64)
    negative = limbs[:, -1] >> 31 == 1
    # Two's complement negation of the negative rows: invert, then add one with carries.
    flipped = np.where(negative[:, None], limbs ^ 0xFFFFFFFF, limbs)
    carry = negative.astype(np.uint64)
    for w in range(words):
        flipped[:, w] += carry
        carry = flipped[:, w] >> 32
        flipped[:, w] &= 0xFFFFFFFF
    pad = -t.scale % 4  # extra decimal places so the fraction fills whole digits
    count = -(-t.precision // 4) + 1  # digits of the integer, plus one for the shift
    digits = np.empty((n, count), dtype=np.int64)
    for d in range(count):  # least significant digit first
        rest: np.ndarray = np.zeros(n, dtype=np.uint64)
        for w in range(words - 1, -1, -1):
            current = (rest << 32) | flipped[:, w]
            flipped[:, w] = current // 10_000
            rest = current % 10_000
        digits[:, d] = rest
    if pad:
        scaled = digits * 10**pad
        digits = scaled % 10_000
        digits[:, 1:] += scaled[:, :-1] // 10_000
    out = np.empty((n, 4 + count), dtype=">i2")
    out[:, 0] = count
    out[:, 1] = count - (t.scale + pad) // 4 - 1  # weight: the first digit's power of 10,000
    out[:, 2] = np.where(negative, 0x4000, 0)
    out[:, 3] = t.scale
    out[:, 4:] = digits[:, ::-1]
    return out


def _rows(record: np.ndarray, kind: pa.DataType) -> pa.Array:
    """A packed numpy record array as a binary array of one value per row."""
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(record.dtype.itemsize), len(record), [None, pa.py_buffer(record)]
    )
    return fixed.cast(kind, memory_pool=_POOL)


# A field of a packed record: its numpy type, its shape per row (a NUMERIC has several
# digits), and its value, either one per row or the same in every row.
_Field = tuple[str, tuple[int, ...], "np.ndarray | int"]


def _pack(fields: list[_Field], n: int, kind: pa.DataType) -> pa.Array:
    """Fixed-width fields packed into one record per row, as a binary array."""
    layout = [(f"f{i}", dtype, shape) for i, (dtype, shape, _) in enumerate(fields)]
    record = np.empty(n, dtype=np.dtype(layout))  # numpy packs the fields without padding
    for i, (_, _, value) in enumerate(fields):
        record[f"f{i}"] = value
    return _rows(record, kind)


def _fixed(values: np.ndarray) -> list[_Field]:
    """A fixed-width column's COPY field: its length word, then its values."""
    return [(">i4", (), values[:1].nbytes), (values.dtype.str, values.shape[1:], values)]


def _nulls(arr: pa.Array, field: pa.Array, kind: pa.DataType) -> pa.Array:
    """`field`, with a NULL field (length -1, no bytes) where `arr` is NULL."""
    if not arr.null_count:
        return field
    null = pa.scalar(_NULL, kind)
    return pc.if_else(arr.is_null(), null, field, memory_pool=_POOL)


def _varfield(arr: pa.Array, kind: pa.DataType) -> tuple[_Field, pa.Array]:
    """A text or bytea column's COPY field as its length word (-1 for NULL), which joins
    the packed record before it, and its bytes (NULL where the value is: the join reads
    them as no bytes)."""
    data = arr.cast(kind, memory_pool=_POOL)
    lengths = pc.binary_length(data, memory_pool=_POOL)
    if arr.null_count:
        lengths = pc.fill_null(lengths, -1)
    return (">i4", (), lengths.to_numpy().astype(">i4")), data


# NULL bytes of a text or bytea column join as no bytes (its length word says NULL).
_JOIN = pc.JoinOptions(null_handling="replace", null_replacement="")


def encode(batch: pa.RecordBatch) -> pa.Buffer:
    """The COPY tuples of `batch` (no header, no trailer), its columns in `order`, all of
    them `encodable`.

    A row is built from parts joined once: packed records of fixed-width fields (the
    field count, the values of columns without NULLs, and the length word of each text
    column), each text column's bytes, and a nullable fixed-width column's field. Every
    byte is copied once by the join; gluing each text column to its length word first
    copied the text twice.
    """
    n = batch.num_rows
    if n == 0:
        return pa.py_buffer(b"")
    # 32-bit offsets save memory and copies, unless the batch's bytes could overflow them.
    size = 2 * n + sum(4 * n + arr.nbytes for arr in batch.columns)
    kind = pa.binary() if size < 2**31 - 1 else pa.large_binary()
    parts: list[pa.Array] = []
    # The field count goes before the first field of each row.
    pending: list[_Field] = [(">i2", (), batch.num_columns)]

    def flush() -> None:
        if pending:
            parts.append(_pack(pending, n, kind))
            pending.clear()

    for arr in batch.columns:
        if _fixed_width(arr.type) and not arr.null_count:
            pending.extend(_fixed(_values(arr)))
        elif _fixed_width(arr.type):
            flush()
            parts.append(_nulls(arr, _pack(_fixed(_values(arr)), n, kind), kind))
        else:
            word, data = _varfield(arr, kind)
            pending.append(word)
            flush()
            parts.append(data)
    flush()
    if len(parts) == 1:
        joined = parts[0]
    else:
        glue = pa.scalar(b"", kind)
        joined = pc.binary_join_element_wise(*parts, glue, options=_JOIN, memory_pool=_POOL)
    width = np.int64 if kind == pa.large_binary() else np.int32
    offsets = np.frombuffer(
        joined.buffers()[1], dtype=width, count=n + 1, offset=joined.offset * width().itemsize
    )
    return joined.buffers()[2][int(offsets[0]) : int(offsets[-1])]


# Rows encoded at a time (about 1.5 MB for the benchmark's 9 columns).
ROWS = 16_384
# Encoded chunks waiting to be sent: the encoder runs this far ahead of the socket.
AHEAD = 8
_DONE = object()


def copy(cursor: Any, sql: str, batches: Iterable[pa.RecordBatch]) -> None:
    """Run `sql` on the psycopg `cursor`: a `COPY ... FROM STDIN (FORMAT binary)` that names
    the columns in `order`. A thread of its own reads and encodes `batches`, so that the next
    batches are ready while the server stores the last ones.

    An error of the batch stream is raised as it is (the COPY is cancelled, so the caller's
    transaction fails); when the server fails, the encoder is stopped before this returns.
    """
    ready: queue.Queue[object] = queue.Queue(maxsize=AHEAD)
    stop = threading.Event()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            sequence: list[int] | None = None
            for batch in batches:
                if stop.is_set():
                    return
                sequence = sequence or order(batch.schema)
                ordered = batch.select(sequence)
                for start in range(0, batch.num_rows, ROWS):
                    _put(ready, encode(ordered.slice(start, ROWS)), stop)
        except BaseException as exc:  # handed to the sending thread, which raises it
            failure.append(exc)
        finally:
            _put(ready, _DONE, stop)

    encoder = threading.Thread(target=produce, name="hygge-pg-encode", daemon=True)
    encoder.start()
    try:
        with cursor.copy(sql) as out:
            out.write(HEADER)
            while (item := ready.get()) is not _DONE:
                out.write(item)
            if failure:
                raise failure[0]
            out.write(TRAILER)
    finally:
        stop.set()
        while encoder.is_alive():  # unblock a pending put, then let the thread see `stop`
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.05)
        encoder.join()


def _put(ready: queue.Queue[object], item: object, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
