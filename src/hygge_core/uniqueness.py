"""The `unique` check's memory bound: spill 64-bit key words by bucket, combine bucket by bucket.

Each row's key becomes one 64-bit word: for a key of one integer, date, time, timestamp or
duration column the value itself (exact: equal words are equal keys), otherwise the key's
64-bit hash (`hashing.hash_columns`). A unit gathers its rows' words (and, for hashed keys,
the keys) up to `BUFFER_BYTES`, then orders them by bucket (a bucket number computed from
the word) and appends them to its spill folder, one file for all buckets:

- `words.bin`: the words, raw little-endian 64-bit, each flush's rows grouped by bucket;
- `counts.bin`: per flush, the rows of each bucket (`buckets` int64s), to find a bucket's
  rows in `words.bin` without reading the rest;
- `keys.arrow`: an Arrow IPC file whose schema is the key's; for hashed keys also the keys,
  one record batch per flush, in the order of `words.bin`.

Before the commit the driver takes one bucket at a time: it reads that bucket's words from
every unit and looks for a word seen twice. When every unit's part is already strictly
ascending and the parts do not overlap (keys read in key order, as tables often are) there
is none and nothing is sorted; otherwise the words are sorted. An exact word seen twice is a
duplicate key; a hash seen twice sends the driver to the keys of just those rows, grouped
by value, so a hash collision between different keys is not reported. Memory at combine is
about 24 bytes per row of the largest bucket (rows / buckets), whatever the total; a unit
holds at most `BUFFER_BYTES` of keys and words before writing them.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hygge_core.hashing import hash_columns

_WORDS, _COUNTS, _KEYS = "words.bin", "counts.bin", "keys.arrow"
# Fibonacci hashing spreads exact words over the buckets (one multiply): cheaper than the
# hash and enough to balance consecutive ids or timestamps, the keys that skip hashing.
# A bucket is the top 32 bits scaled to `buckets` (multiply and shift, no division).
_FIB = np.uint64(0x9E3779B97F4A7C15)
_32 = np.uint64(32)
# Keys and words are gathered up to this many bytes per unit before being ordered into
# their buckets: fewer, larger writes; it is also what a unit holds for the check.
BUFFER_BYTES = 8 << 20


@dataclass
class _Spill:
    """A unit's open spill: what is buffered, and the key file's writer (for hashed keys)."""

    exact: bool
    schema: pa.Schema
    buffer: list[pa.RecordBatch] = field(default_factory=list)
    size: int = 0
    writer: pa.ipc.RecordBatchFileWriter | None = None


# Per unit spill folder (partials themselves must stay plain data).
_OPEN: dict[str, _Spill] = {}
_LOCK = threading.Lock()


def exact_type(type_: pa.DataType) -> bool:
    """Whether a one-column key of this type is its own 64-bit word (no hash needed)."""
    return (
        pa.types.is_integer(type_)
        or pa.types.is_date(type_)
        or pa.types.is_time(type_)
        or pa.types.is_timestamp(type_)
        or pa.types.is_duration(type_)
    )


def _words(column: pa.Array) -> np.ndarray:
    """An exact key column (no nulls) as int64 words."""
    type_ = column.type
    width = type_.bit_width
    if pa.types.is_integer(type_):
        as_int = column
    else:
        as_int = column.view(pa.int64() if width == 64 else pa.int32())
    values = as_int.to_numpy(zero_copy_only=False)
    if width == 64:
        return values.view(np.int64)
    return values.astype(np.int64)


def spill(partial: dict[str, Any], batch: pa.RecordBatch, columns: list[str], buckets: int) -> None:
    """Buffer `batch`'s keys (rows with no NULL key); write the buffer into the unit's
    spill files once it holds `BUFFER_BYTES`."""
    keys = batch.select(columns)
    valid = None
    for c in keys.columns:
        if c.null_count:
            v = pc.is_valid(c)
            valid = v if valid is None else pc.and_(valid, v)
    if valid is not None:
        keys = keys.filter(valid)
    if keys.num_rows == 0:
        return
    folder = partial["dir"]
    with _LOCK:
        state = _OPEN.get(folder)
        if state is None:
            exact = len(columns) == 1 and exact_type(keys.schema.field(0).type)
            state = _OPEN[folder] = _Spill(exact, keys.schema)
    state.buffer.append(keys)
    # Exact keys are held as 8-byte words; hashed keys as the keys plus an 8-byte hash.
    state.size += keys.num_rows * 8 + (0 if state.exact else keys.nbytes)
    if state.size >= BUFFER_BYTES:
        _flush(folder, state, buckets)


def _flush(folder: str, state: _Spill, buckets: int) -> None:
    if not state.buffer:
        return
    keys = pa.Table.from_batches(state.buffer).combine_chunks()
    state.buffer, state.size = [], 0
    if state.exact:
        words = _words(keys.column(0).chunk(0))
        with np.errstate(over="ignore"):
            spread = words.view(np.uint64) * _FIB
    else:
        words = hash_columns(list(keys.columns)).view(np.int64)
        spread = words.view(np.uint64)
    # uint16 buckets (at most 4096): numpy's stable sort of small integers is a radix
    # sort, and a stable order keeps each bucket's rows in the order they were read.
    bucket = (((spread >> _32) * np.uint64(buckets)) >> _32).astype(np.uint16)
    del spread
    order = np.argsort(bucket, kind="stable")
    counts = np.bincount(bucket, minlength=buckets).astype(np.int64)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, _WORDS), "ab") as f:
        f.write(memoryview(words[order]))
    with open(os.path.join(folder, _COUNTS), "ab") as f:
        f.write(memoryview(counts))
    if state.writer is None:
        state.writer = pa.ipc.new_file(os.path.join(folder, _KEYS), state.schema)
    if not state.exact:
        # One record batch per flush: the driver finds a flush's keys by its number.
        state.writer.write_batch(keys.to_batches()[0].take(pa.array(order)))


def close_spill(partial: dict[str, Any], buckets: int) -> None:
    """Write what is buffered and close the unit's spill files (the unit is staged)."""
    with _LOCK:
        state = _OPEN.pop(partial["dir"], None)
    if state is None:
        return
    try:
        _flush(partial["dir"], state, buckets)
    finally:
        if state.writer is not None:
            state.writer.close()


@dataclass
class _Unit:
    """A unit's spill as the driver reads it: where each flush's buckets start."""

    folder: str
    starts: np.ndarray  # [flush, bucket] → first row of that bucket in words.bin
    counts: np.ndarray  # [flush, bucket] → rows
    flush_starts: np.ndarray  # [flush] → first row of the flush
    schema: pa.Schema
    exact: bool


def _open(folder: str, buckets: int) -> _Unit | None:
    path = os.path.join(folder, _COUNTS)
    if not os.path.exists(path):
        return None  # the unit had no row with a whole key
    counts = np.fromfile(path, dtype=np.int64).reshape(-1, buckets)
    flat = counts.reshape(-1)
    starts = (np.cumsum(flat) - flat).reshape(counts.shape)
    with pa.OSFile(os.path.join(folder, _KEYS)) as f:
        schema = pa.ipc.open_file(f).schema
    exact = len(schema) == 1 and exact_type(schema.field(0).type)
    return _Unit(folder, starts, counts, starts[:, 0].copy(), schema, exact)


def _read_bucket(unit: _Unit, b: int) -> list[tuple[int, int, np.ndarray]]:
    """(flush, row within the flush, words) for each flush's part of bucket `b`."""
    parts = []
    with open(os.path.join(unit.folder, _WORDS), "rb") as f:
        for flush in np.nonzero(unit.counts[:, b])[0]:
            start, n = int(unit.starts[flush, b]), int(unit.counts[flush, b])
            f.seek(start * 8)
            words = np.frombuffer(f.read(n * 8), dtype=np.int64)
            parts.append((int(flush), start - int(unit.flush_starts[flush]), words))
    return parts


def _disjoint_ascending(parts: list[np.ndarray]) -> bool:
    """Whether every part is strictly ascending and no two parts' ranges overlap: then
    no word repeats, and sorting can be skipped."""
    ranges = []
    for p in parts:
        if len(p) > 1 and not bool(np.all(p[1:] > p[:-1])):
            return False
        ranges.append((int(p[0]), int(p[-1])))
    ranges.sort()
    return all(hi < lo for (_, hi), (lo, _) in zip(ranges, ranges[1:], strict=False))


def _repeated(parts: list[np.ndarray]) -> np.ndarray:
    """The words seen more than once."""
    if _disjoint_ascending(parts):
        return np.zeros(0, np.int64)
    ordered = np.sort(np.concatenate(parts))
    return np.unique(ordered[1:][ordered[1:] == ordered[:-1]])


def duplicates(
    folders: list[str], columns: list[str], buckets: int, examples: int
) -> tuple[int, list[str]]:
    """(rows that repeat an earlier row's key, up to `examples` keys as text)."""
    units = [u for u in (_open(f, buckets) for f in folders) if u is not None]
    extra = 0
    shown: list[str] = []
    for b in range(buckets):
        found = [(u, part) for u in units for part in _read_bucket(u, b)]
        if sum(len(words) for _, (_, _, words) in found) < 2:
            continue
        repeated = _repeated([words for _, (_, _, words) in found])
        if not repeated.size:
            continue
        if units[0].exact:
            candidates = _exact_keys(found, repeated, units[0].schema)
        else:
            candidates = _hashed_keys(found, repeated, columns)
        groups = candidates.group_by(columns).aggregate([([], "count_all")])
        dup = groups.filter(pc.greater(groups.column("count_all"), 1))
        if dup.num_rows:
            counts = dup.column("count_all")
            extra += int(pc.sum(counts).as_py()) - dup.num_rows
            for row in dup.slice(0, examples - len(shown)).to_pylist():
                n = row.pop("count_all")
                keys = ", ".join(
                    f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in row.items()
                )
                shown.append(f"{keys} ({n} rows)")
    return extra, shown


def _exact_keys(
    found: list[tuple[_Unit, tuple[int, int, np.ndarray]]], repeated: np.ndarray, schema: pa.Schema
) -> pa.Table:
    """The rows whose word repeats, as the key's own type (the words are the values)."""
    words = pa.array(np.concatenate([w[np.isin(w, repeated)] for _, (_, _, w) in found]))
    type_ = schema.field(0).type
    if type_.bit_width == 64:
        keys = words.view(type_)  # uint64 too: its words are its bits
    elif pa.types.is_integer(type_):
        keys = words.cast(type_)  # widened from this type: every value fits back
    else:
        keys = words.cast(pa.int32()).view(type_)  # date32, time32
    return pa.table({schema.field(0).name: keys})


def _hashed_keys(
    found: list[tuple[_Unit, tuple[int, int, np.ndarray]]], repeated: np.ndarray, columns: list[str]
) -> pa.Table:
    """The keys of the rows whose hash repeats, read back from each unit's key file."""
    tables = []
    by_unit: dict[str, list[tuple[int, int, np.ndarray]]] = {}
    for unit, part in found:
        by_unit.setdefault(unit.folder, []).append(part)
    for folder, parts in by_unit.items():
        with pa.OSFile(os.path.join(folder, _KEYS)) as f:
            reader = pa.ipc.open_file(f)
            for flush, offset, words in parts:
                hit = np.isin(words, repeated)
                if hit.any():
                    keys = reader.get_batch(flush).slice(offset, len(words))
                    tables.append(pa.Table.from_batches([keys.filter(pa.array(hit))]))
    return pa.concat_tables(tables).select(columns)
