"""The `unique` check's memory bound: spill key hashes by bucket, combine bucket by bucket.

Each unit writes, per batch, the rows' 64-bit key hashes and the keys themselves into one
Arrow IPC file per bucket (the hash picks the bucket) under its spill folder. At commit the
driver takes one bucket at a time: it reads the hash column of that bucket's files from
every unit (memory-mapped), sorts them, and only for hashes seen more than once reads the
keys and groups them, so a hash collision between different keys is not reported. Memory
at combine is about 24 bytes per row of the largest bucket (rows / buckets), whatever the
total; a unit buffers at most `BUFFER_BYTES` of keys and hashes before writing them.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hygge_core.hashing import hash_columns

_HASH = "_hygge_key_hash"
# Per unit spill folder: its bucket writers and the rows buffered before the next write
# (partials themselves must stay plain data).
_WRITERS: dict[str, dict[int, pa.ipc.RecordBatchFileWriter]] = {}
_BUFFERS: dict[str, list[pa.Table]] = {}
_LOCK = threading.Lock()
# Keys and hashes are gathered up to this many bytes per unit before being sorted into
# their buckets: fewer, larger writes; it is also what a unit holds for the check.
BUFFER_BYTES = 8 << 20


def spill(partial: dict[str, Any], batch: pa.RecordBatch, columns: list[str], buckets: int) -> None:
    """Buffer `batch`'s keys (rows with no NULL key) and their hashes; write the buffer
    into the bucket files once it holds `BUFFER_BYTES`."""
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
    hashes = hash_columns(list(keys.columns))
    table = pa.Table.from_batches([keys.append_column(_HASH, pa.array(hashes))])
    folder = partial["dir"]
    with _LOCK:
        buffer = _BUFFERS.setdefault(folder, [])
    buffer.append(table)
    if sum(t.nbytes for t in buffer) >= BUFFER_BYTES:
        _flush(folder, buckets)


def _flush(folder: str, buckets: int) -> None:
    with _LOCK:
        buffer = _BUFFERS.pop(folder, [])
        writers = _WRITERS.setdefault(folder, {})
    if not buffer:
        return
    table = pa.concat_tables(buffer).combine_chunks()
    hashes = table.column(_HASH).to_numpy()
    # uint16 buckets (at most 4096): numpy's stable sort of small integers is a radix sort.
    bucket = ((hashes >> np.uint64(40)) % np.uint64(buckets)).astype(np.uint16)
    order = np.argsort(bucket, kind="stable")
    counts = np.bincount(bucket, minlength=buckets)
    table = table.take(pa.array(order))
    os.makedirs(folder, exist_ok=True)
    start = 0
    for b in np.nonzero(counts)[0]:
        n = int(counts[b])
        part = table.slice(start, n)
        start += n
        writer = writers.get(int(b))
        if writer is None:
            writer = pa.ipc.new_file(_path(folder, int(b)), part.schema)
            writers[int(b)] = writer
        writer.write_table(part)


def close_spill(partial: dict[str, Any], buckets: int) -> None:
    """Write what is buffered and close the unit's bucket files (the unit is staged)."""
    try:
        _flush(partial["dir"], buckets)
    finally:
        with _LOCK:
            writers = _WRITERS.pop(partial["dir"], {})
            _BUFFERS.pop(partial["dir"], None)
        for writer in writers.values():
            writer.close()


def _path(folder: str, bucket: int) -> str:
    return os.path.join(folder, f"b{bucket:04d}.arrow")


def duplicates(
    folders: list[str], columns: list[str], buckets: int, examples: int
) -> tuple[int, list[str]]:
    """(rows that repeat an earlier row's key, up to `examples` keys as text)."""
    extra = 0
    shown: list[str] = []
    for b in range(buckets):
        tables = []
        for folder in folders:
            path = _path(folder, b)
            if os.path.exists(path):
                tables.append(pa.ipc.open_file(pa.memory_map(path)).read_all())
        if not tables:
            continue
        hashes = np.concatenate(
            [t.column(_HASH).to_numpy() for t in tables if t.num_rows] or [np.zeros(0, np.uint64)]
        )
        if len(hashes) < 2:
            continue
        ordered = np.sort(hashes)
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        if not repeated.size:
            continue
        # Only the rows whose hash repeats are read back: collisions are settled by the keys.
        candidates = pa.concat_tables(
            [
                t.filter(pc.is_in(t.column(_HASH), value_set=pa.array(repeated))).select(columns)
                for t in tables
            ]
        )
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
