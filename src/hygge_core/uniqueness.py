"""The `unique` check's memory bound: keys as 64-bit words, held or spilled, combined by bucket.

Each row's key becomes one 64-bit word: for a key of one integer, date, time, timestamp or
duration column the value itself (exact: equal words are equal keys), otherwise the key's
64-bit hash (`hashing.hash_columns`).

**Held.** A unit that runs in the driver's process (the local executor; not a Dask worker
process) keeps its words in memory, unordered, while the run's held words stay within
`hold` bytes (`MEMORY_BYTES`, at most a quarter of the flow's budget): nothing is written.

**Spilled.** Past that (or with an explicit `spill:` folder, or in a worker process) a unit
gathers its words (and, for hashed keys, the keys) up to `BUFFER_BYTES`, orders them by
bucket (a bucket number computed from the word) and appends them to its spill folder:

- `words.bin`: the words, raw little-endian 64-bit, each flush's rows grouped by bucket;
- `counts.bin`: per flush, the rows of each bucket (`buckets` int64s), to find a bucket's
  rows in `words.bin` without reading the rest;
- `keys.arrow`: an Arrow IPC file whose schema is the key's; for hashed keys also the keys,
  one record batch per flush, in the order of `words.bin`.

Before the commit the driver looks for a word seen twice: over all words at once when every
unit held its words, else one bucket at a time (held words are ordered into buckets then).
When every unit's part is already strictly ascending and the parts do not overlap (keys read
in key order, as tables often are) there is none and nothing is sorted; otherwise the words
are sorted. An exact word seen twice is a duplicate key; a hash seen twice sends the driver
to the keys of just those rows, grouped by value, so a hash collision between different
keys is not reported. Memory at combine: the held words, or about 24 bytes per row of the
largest bucket (rows / buckets) for spilled ones.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
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
# their buckets: fewer, larger writes; it is also what a spilling unit holds for the check.
BUFFER_BYTES = 8 << 20
# Words held in memory, all runs of the process together, at most (see `hold_for`).
MEMORY_BYTES = 64 << 20


def hold_for(budget: int) -> int:
    """Bytes of words a run with this flow budget may hold (0: the budget is unknown)."""
    return MEMORY_BYTES if budget <= 0 else min(MEMORY_BYTES, budget // 4)


@dataclass
class _Held:
    """A unit's words kept in memory (and, for hashed keys, its keys, row for row)."""

    schema: pa.Schema
    words: list[np.ndarray] = field(default_factory=list)
    keys: list[pa.RecordBatch] = field(default_factory=list)
    nbytes: int = 0


@dataclass
class _Spill:
    """A unit's open spill: held words, or what is buffered and the key file's writer."""

    exact: bool
    schema: pa.Schema
    held: _Held | None  # None: this unit writes its words to files
    buffer: list[pa.RecordBatch] = field(default_factory=list)
    size: int = 0
    writer: pa.ipc.RecordBatchFileWriter | None = None


# Per unit folder (partials themselves must stay plain data): open spills, and the words
# units of this process hold until their run's check is combined and cleaned up.
_OPEN: dict[str, _Spill] = {}
_HELD: dict[str, _Held] = {}
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


def _exact(schema: pa.Schema) -> bool:
    return len(schema) == 1 and exact_type(schema.field(0).type)


def _words_of(keys: pa.Table | pa.RecordBatch, exact: bool) -> np.ndarray:
    """One int64 word per row (keys without nulls): the value, or the hash."""
    if not exact:
        return hash_columns(list(keys.columns)).view(np.int64)
    column = keys.column(0)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    type_ = column.type
    width = type_.bit_width
    as_int = (
        column
        if pa.types.is_integer(type_)
        else column.view(pa.int64() if width == 64 else pa.int32())
    )
    values = as_int.to_numpy(zero_copy_only=False)
    return values.view(np.int64) if width == 64 else values.astype(np.int64)


def _owns(column: pa.Array, words: np.ndarray) -> bool:
    """Whether `words` is a view of exactly the column's own data buffer: holding it keeps
    no more alive than the words (not a slice of a larger buffer)."""
    data = column.buffers()[1]
    return (
        words.base is not None
        and column.offset == 0
        and data is not None
        and data.size <= words.nbytes + 64
    )


def _buckets(words: np.ndarray, exact: bool, buckets: int) -> np.ndarray:
    """Each word's bucket (uint16: at most 4096 buckets)."""
    with np.errstate(over="ignore"):
        spread = words.view(np.uint64) * _FIB if exact else words.view(np.uint64).copy()
    spread >>= _32
    spread *= np.uint64(buckets)
    spread >>= _32
    return spread.astype(np.uint16)


def spill(
    partial: dict[str, Any],
    batch: pa.RecordBatch,
    columns: list[str],
    buckets: int,
    hold: int = 0,
) -> None:
    """Take `batch`'s keys (rows with no NULL key): held in memory while the run's held
    words stay within `hold` bytes, else buffered and written to the unit's spill files
    once the buffer holds `BUFFER_BYTES`."""
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
            # A unit's first batch (also of a retried unit): what an earlier attempt
            # left under this folder is not this attempt's.
            _drop(folder)
            shutil.rmtree(folder, ignore_errors=True)
            held = _Held(keys.schema) if hold > 0 else None
            state = _OPEN[folder] = _Spill(_exact(keys.schema), keys.schema, held)
            if held is not None:
                _HELD[folder] = held
    if state.held is not None:
        words = _words_of(keys, state.exact)
        if state.exact and not _owns(keys.column(0), words):
            words = words.copy()  # a view would keep more than these words alive
        size = words.nbytes + (0 if state.exact else keys.nbytes)
        with _LOCK:
            fits = sum(h.nbytes for h in _HELD.values()) + size <= hold
            if fits:
                state.held.words.append(words)
                if not state.exact:
                    state.held.keys.append(keys)
                state.held.nbytes += size
        if fits:
            return
        _spill_held(folder, state, buckets)
    state.buffer.append(keys)
    # Exact keys become 8-byte words; hashed keys stay, with an 8-byte hash each.
    state.size += keys.num_rows * 8 + (0 if state.exact else keys.nbytes)
    if state.size >= BUFFER_BYTES:
        _flush(folder, state, buckets)


def _spill_held(folder: str, state: _Spill, buckets: int) -> None:
    """The run holds all it may: write what this unit held, and spill from now on."""
    held = state.held
    assert held is not None
    with _LOCK:
        _HELD.pop(folder, None)
        state.held = None
    if held.words:
        words = np.concatenate(held.words)
        keys = None if state.exact else pa.Table.from_batches(held.keys).combine_chunks()
        _write(folder, state, words, keys, buckets)


def _flush(folder: str, state: _Spill, buckets: int) -> None:
    if not state.buffer:
        return
    keys = pa.Table.from_batches(state.buffer).combine_chunks()
    state.buffer, state.size = [], 0
    _write(folder, state, _words_of(keys, state.exact), None if state.exact else keys, buckets)


def _write(
    folder: str, state: _Spill, words: np.ndarray, keys: pa.Table | None, buckets: int
) -> None:
    """Append one flush: the words (and keys) ordered by bucket, and each bucket's count."""
    bucket = _buckets(words, state.exact, buckets)
    # numpy's stable sort of small integers is a radix sort, and a stable order keeps
    # each bucket's rows in the order they were read (ascending stays ascending).
    order = np.argsort(bucket, kind="stable")
    counts = np.bincount(bucket, minlength=buckets).astype(np.int64)
    del bucket
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, _WORDS), "ab") as f:
        words[order].tofile(f)
    with open(os.path.join(folder, _COUNTS), "ab") as f:
        counts.tofile(f)
    if state.writer is None:
        state.writer = pa.ipc.new_file(os.path.join(folder, _KEYS), state.schema)
    if keys is not None:
        # One record batch per flush: the driver finds a flush's keys by its number.
        state.writer.write_batch(keys.combine_chunks().to_batches()[0].take(pa.array(order)))


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


def holds(folder: str) -> bool:
    """Whether this process holds a unit's words (its partial is usable without files)."""
    with _LOCK:
        return folder in _HELD


def release(run_folder: str) -> None:
    """Forget the words held for every unit under `run_folder` (the flow ended)."""
    prefix = os.path.join(run_folder, "")
    with _LOCK:
        for folder in [f for f in _HELD if f.startswith(prefix)]:
            _drop(folder)


def _drop(folder: str) -> None:
    _HELD.pop(folder, None)


# -- combining, in the driver ------------------------------------------------------------


@dataclass
class _Unit:
    """A unit's words as the driver reads them, bucket by bucket: from its files, or from
    memory (held words, ordered into buckets here when the combine goes by bucket)."""

    schema: pa.Schema
    starts: np.ndarray  # [flush, bucket] → first row of that bucket
    counts: np.ndarray  # [flush, bucket] → rows
    folder: str = ""
    words: np.ndarray | None = None  # held: all words, in bucket order
    keys: pa.RecordBatch | None = None  # held, hashed keys: in the same order

    @property
    def exact(self) -> bool:
        return _exact(self.schema)

    def parts(self, b: int) -> Iterator[tuple[int, int, np.ndarray]]:
        """(flush, row within the flush, words) for each flush's part of bucket `b`."""
        flushes = np.nonzero(self.counts[:, b])[0]
        if self.words is not None:
            for flush in flushes:
                start, n = int(self.starts[flush, b]), int(self.counts[flush, b])
                yield int(flush), start, self.words[start : start + n]
            return
        with open(os.path.join(self.folder, _WORDS), "rb") as f:
            for flush in flushes:
                start, n = int(self.starts[flush, b]), int(self.counts[flush, b])
                f.seek(start * 8)
                words = np.frombuffer(f.read(n * 8), dtype=np.int64)
                yield int(flush), start - int(self.starts[flush, 0]), words

    def flush_keys(self, flush: int) -> pa.RecordBatch:
        """The keys of one flush, in the order of its words (hashed keys only)."""
        if self.keys is not None:
            return self.keys
        with pa.OSFile(os.path.join(self.folder, _KEYS)) as f:
            return pa.ipc.open_file(f).get_batch(flush)


def _starts(counts: np.ndarray) -> np.ndarray:
    flat = counts.reshape(-1)
    return (np.cumsum(flat) - flat).reshape(counts.shape)


def _from_files(folder: str, buckets: int) -> _Unit | None:
    path = os.path.join(folder, _COUNTS)
    if not os.path.exists(path):
        return None  # the unit had no row with a whole key
    counts = np.fromfile(path, dtype=np.int64).reshape(-1, buckets)
    with pa.OSFile(os.path.join(folder, _KEYS)) as f:
        schema = pa.ipc.open_file(f).schema
    return _Unit(schema, _starts(counts), counts, folder=folder)


def _from_memory(held: _Held, buckets: int) -> _Unit | None:
    if not held.words:
        return None
    words = held.words[0] if len(held.words) == 1 else np.concatenate(held.words)
    keys = None if _exact(held.schema) else pa.Table.from_batches(held.keys).combine_chunks()
    if buckets == 1:  # every unit held its words: one pass over all of them
        counts = np.array([[len(words)]], dtype=np.int64)
        batch = keys.to_batches()[0] if keys is not None else None
        return _Unit(held.schema, _starts(counts), counts, words=words, keys=batch)
    bucket = _buckets(words, _exact(held.schema), buckets)
    order = np.argsort(bucket, kind="stable")
    counts = np.bincount(bucket, minlength=buckets).astype(np.int64).reshape(1, -1)
    batch = keys.to_batches()[0].take(pa.array(order)) if keys is not None else None
    return _Unit(held.schema, _starts(counts), counts, words=words[order], keys=batch)


def _disjoint_ascending(parts: list[np.ndarray]) -> bool:
    """Whether every part is strictly ascending and no two parts' ranges overlap: then
    no word repeats, and sorting can be skipped."""
    ranges = []
    for p in parts:
        if len(p) > 1 and not bool(np.all(p[1:] > p[:-1])):
            return False
        ranges.append((int(p[0]), int(p[-1])))
    ranges.sort()
    return all(hi < lo for (_, hi), (lo, _) in pairwise(ranges))


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
    with _LOCK:
        held = {f: _HELD[f] for f in folders if f in _HELD}
    if not any(os.path.exists(os.path.join(f, _COUNTS)) for f in folders if f not in held):
        buckets = 1  # nothing was spilled: all words are in memory, take them at once
    units = [
        u
        for u in (
            _from_memory(held[f], buckets) if f in held else _from_files(f, buckets)
            for f in folders
        )
        if u is not None
    ]
    extra = 0
    shown: list[str] = []
    for b in range(buckets):
        found = [(u, part) for u in units for part in u.parts(b)]
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


Found = list[tuple[_Unit, tuple[int, int, np.ndarray]]]


def _exact_keys(found: Found, repeated: np.ndarray, schema: pa.Schema) -> pa.Table:
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


def _hashed_keys(found: Found, repeated: np.ndarray, columns: list[str]) -> pa.Table:
    """The keys of the rows whose hash repeats, read back from each unit's keys."""
    tables = []
    for unit, (flush, offset, words) in found:
        hit = np.isin(words, repeated)
        if hit.any():
            keys = unit.flush_keys(flush).slice(offset, len(words))
            tables.append(pa.Table.from_batches([keys.filter(pa.array(hit))]))
    return pa.concat_tables(tables).select(columns)
