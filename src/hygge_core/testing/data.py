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


def every_type_table() -> pa.Table:
    """Three rows with one column per type a lakehouse round trip should carry, a NULL in
    every column: `id` (int64), `d` (decimal128(38, 9) at full precision), `ts` (a UTC
    timestamp in microseconds, the night Europe's clocks change), `naive` (a timestamp
    without zone), `day` (a leap day among the dates), `raw` (binary, with an empty value),
    `text` (non-ASCII and empty strings), `s` (a struct whose fields are NULL in one row)
    and `l` (a list of int64, one of them empty).

    Where `sample_table` is many rows of flat types, this is the few edge values of nested
    and high-precision ones that table formats (Delta, Iceberg) must read back exactly.
    """
    instant = dt.datetime(2024, 3, 31, 1, 30, 0, 123456, tzinfo=dt.UTC)
    return pa.table(
        {
            "id": pa.array([1, 2, None], pa.int64()),
            "d": pa.array(
                [
                    decimal.Decimal("12345678901234567890123456789.123456789"),
                    None,
                    decimal.Decimal("-1.000000001"),
                ],
                pa.decimal128(38, 9),
            ),
            "ts": pa.array([instant, None, instant], pa.timestamp("us", "UTC")),
            "naive": pa.array(
                [dt.datetime(2020, 1, 1, 0, 0, 0, 1), None, None], pa.timestamp("us")
            ),
            "day": pa.array([dt.date(1999, 12, 31), None, dt.date(2000, 2, 29)]),
            "raw": pa.array([b"\x00\xff", None, b""], pa.binary()),
            "text": pa.array(["ø", None, ""], pa.string()),
            "s": pa.array(
                [{"a": 1, "b": "x"}, None, {"a": None, "b": None}],
                pa.struct([("a", pa.int32()), ("b", pa.string())]),
            ),
            "l": pa.array([[1, 2], None, []], pa.list_(pa.int64())),
        }
    )


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
