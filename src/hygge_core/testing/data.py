"""Test data and comparisons shared by the kit and hygge's own tests."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib

import numpy as np
import pyarrow as pa


def sample_table(
    rows: int = 1000, *, seed: int = 1, nulls: float = 0.05, types: set[str] | None = None
) -> pa.Table:
    """A deterministic table of common types, NULLs sprinkled in every column but `id`.

    `types` limits the columns to what a plugin can hold (names: int32, int64, float64,
    bool, string, timestamp, timestamp_tz, date, decimal, binary).
    """
    rng = np.random.default_rng(seed)
    mask = lambda: rng.random(rows) < nulls  # noqa: E731 - a fresh mask per column
    base = np.datetime64("2024-03-01T12:00:00", "us")
    words = np.array(["hygge", "sø", "日本", "", "x" * 40, "naïve café"], dtype=object)
    cols: dict[str, pa.Array] = {
        "id": pa.array(np.arange(rows, dtype=np.int64)),
        "int32": pa.array(rng.integers(-(2**31), 2**31 - 1, rows).astype(np.int32), mask=mask()),
        "int64": pa.array(rng.integers(-(2**62), 2**62, rows), mask=mask()),
        "float64": pa.array(rng.standard_normal(rows), mask=mask()),
        "bool": pa.array(rng.random(rows) < 0.5, mask=mask()),
        "string": pa.array(
            words[rng.integers(0, len(words), rows)].tolist(), pa.string(), mask=mask()
        ),
        "timestamp": pa.array(
            base + rng.integers(0, 10**12, rows).astype("timedelta64[us]"), mask=mask()
        ),
        "timestamp_tz": pa.array(
            base + rng.integers(0, 10**12, rows).astype("timedelta64[us]"), mask=mask()
        ).cast(pa.timestamp("us", tz="UTC")),
        "date": pa.array(
            [dt.date(2000, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 10000, rows)],
            pa.date32(),
            mask=mask(),
        ),
        "decimal": pa.array(
            [decimal.Decimal(int(v)).scaleb(-4) for v in rng.integers(-(10**15), 10**15, rows)],
            pa.decimal128(38, 4),
            mask=mask(),
        ),
        "binary": pa.array(
            [
                bytes(rng.integers(0, 256, int(n)).astype(np.uint8))
                for n in rng.integers(0, 16, rows)
            ],
            pa.binary(),
            mask=mask(),
        ),
    }
    if types is not None:
        cols = {k: v for k, v in cols.items() if k == "id" or k in types}
    return pa.table(cols)


def table_checksum(table: pa.Table, key: str | None = "id") -> str:
    """A content checksum independent of row order (sorted by `key`) and chunking.

    Values are hashed through their Python form, so it is exact but meant for test-sized
    tables; `tables_equal` compares large tables without leaving Arrow.
    """
    if key is not None and table.num_rows:
        table = table.sort_by(key)
    h = hashlib.sha256()
    for name in sorted(table.column_names):
        col = table.column(name)
        h.update(f"{name}:{col.type}".encode())
        for chunk in col.chunks:
            for start in range(0, len(chunk), 65536):
                h.update(repr(chunk.slice(start, 65536).to_pylist()).encode())
    return h.hexdigest()


def tables_equal(a: pa.Table, b: pa.Table, key: str | None = "id") -> bool:
    """Same rows and values, in any order and chunking, with the same schema (by name)."""
    if a.num_rows != b.num_rows or sorted(a.column_names) != sorted(b.column_names):
        return False
    b = b.select(a.column_names)
    if key is not None and a.num_rows:
        a, b = a.sort_by(key), b.sort_by(key)
    return a.combine_chunks().equals(b.combine_chunks())
