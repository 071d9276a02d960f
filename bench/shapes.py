"""Table shapes for Parquet → Parquet, so that no single table judges the Parquet writer.

The main benchmark table (``gen.py``) mixes every kind of column; these three stress one
thing each (issue 22):

- ``narrow_numeric``: 5 numeric columns (a sorted int64 key, random int64, small int32,
  float64, a rising timestamp), ``rows`` rows in 1M-row row groups — integer encodings.
- ``wide_strings``: an int64 key and 8 high-cardinality strings (6 random texts of 20-40
  characters, 2 URL-like columns with a shared prefix), ``rows // 5`` rows — string encodings
  and the cost of a dictionary that overflows.
- ``small_row_groups``: the main benchmark table, ``rows // 2`` rows, in 10,000-row row
  groups — per-row-group overheads of readers and writers.

Data are made from numpy generators seeded by (seed, shape, chunk, column), so a size always
gives the same bytes; each data set is cached under ``bench/.data/shapes/<shape>-r<ROWS>/``
with its checksum (``verify.columns_of`` gives the checksum's columns for any flat table).

Usage: ``python bench/shapes.py --rows 2000000`` makes (or finds) the three data sets.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

import verify
from gen import CHUNK_ROWS, Dataset, make_chunk
from schema import DATA_DIR, SEED

SHAPES_VERSION = 1
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_LETTERS = np.frombuffer(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", np.uint8
)
_TS0 = int(np.datetime64("2024-01-01T00:00:00", "us").astype(np.int64))


def _rng(shape: int, chunk: int, column: int) -> np.random.Generator:
    return np.random.default_rng([SEED, 1000 + shape, chunk, column])


def _text(rng: np.random.Generator, n: int, low: int, high: int) -> pa.Array:
    """Random letters and digits, ``low``..``high`` characters, built as Arrow buffers."""
    lengths = rng.integers(low, high + 1, n, dtype=np.int32)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = _LETTERS[rng.integers(0, len(_LETTERS), int(offsets[-1]))]
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _url(rng: np.random.Generator, n: int, prefix: bytes) -> pa.Array:
    """``prefix`` followed by 16 random hex digits: distinct values sharing a long prefix."""
    width = len(prefix) + 16
    rows = np.empty((n, width), np.uint8)
    rows[:, : len(prefix)] = np.frombuffer(prefix, np.uint8)
    rows[:, len(prefix) :] = _HEX[rng.integers(0, 16, (n, 16))]
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(rows.tobytes()))


def _narrow(chunk: int, n: int) -> pa.RecordBatch:
    start = chunk * CHUNK_ROWS
    ids = np.arange(start, start + n, dtype=np.int64)
    jitter = _rng(0, chunk, 4).integers(0, 1000, n)
    return pa.RecordBatch.from_pydict(
        {
            "id": ids,
            "value": _rng(0, chunk, 1).integers(0, 1 << 40, n, dtype=np.int64),
            "small": _rng(0, chunk, 2).integers(0, 1000, n, dtype=np.int32),
            "measure": np.round(_rng(0, chunk, 3).normal(0, 1000, n), 3),
            "at": pa.array(_TS0 + ids * 1_000_000 + jitter, pa.timestamp("us")),
        }
    )


def _wide(chunk: int, n: int) -> pa.RecordBatch:
    start = chunk * CHUNK_ROWS
    columns: dict[str, pa.Array] = {"id": pa.array(np.arange(start, start + n, dtype=np.int64))}
    for i in range(6):
        columns[f"text_{i}"] = _text(_rng(1, chunk, i), n, 20, 40)
    columns["url"] = _url(_rng(1, chunk, 6), n, b"https://shop.example.com/products/item-")
    columns["referrer"] = _url(_rng(1, chunk, 7), n, b"https://www.example.org/search?q=")
    return pa.RecordBatch.from_pydict(columns)


@dataclass(frozen=True)
class Shape:
    """One table shape: how its rows are made and how its Parquet file is laid out."""

    name: str
    title: str
    make: Callable[[int, int], pa.RecordBatch]
    row_scale: float  # rows of this shape per row of ``--rows``
    row_group_rows: int

    def rows(self, rows: int) -> int:
        """Rows of this shape's data set at the benchmark size ``rows``."""
        return max(1, int(rows * self.row_scale))


SHAPES: dict[str, Shape] = {
    s.name: s
    for s in [
        Shape("narrow_numeric", "narrow numeric (5 columns)", _narrow, 1.0, 1_000_000),
        Shape("wide_strings", "wide high-cardinality strings (9 columns)", _wide, 0.2, 1_000_000),
        Shape(
            "small_row_groups", "the main table in 10,000-row row groups", make_chunk, 0.5, 10_000
        ),
    ]
}


def _chunks(shape: Shape, rows: int) -> Iterator[pa.RecordBatch]:
    for chunk, start in enumerate(range(0, rows, CHUNK_ROWS)):
        yield shape.make(chunk, min(CHUNK_ROWS, rows - start))


def ensure(shape: Shape, rows: int) -> Dataset:
    """Make sure the shape's data set for benchmark size ``rows`` exists; return it."""
    n = shape.rows(rows)
    d = DATA_DIR / "shapes" / f"{shape.name}-r{n}"
    d.mkdir(parents=True, exist_ok=True)
    meta_path = d / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    ds = Dataset(n, d, meta.get("checksum", ""))
    if meta.get("version") == SHAPES_VERSION and meta.get("rows") == n and ds.parquet.exists():
        return ds
    t0 = time.perf_counter()
    tmp = ds.parquet.with_suffix(".tmp")
    writer: pq.ParquetWriter | None = None
    for batch in _chunks(shape, n):
        if writer is None:
            writer = pq.ParquetWriter(tmp, batch.schema, compression="snappy")
        writer.write_batch(batch, row_group_size=shape.row_group_rows)
    assert writer is not None
    writer.close()
    tmp.rename(ds.parquet)
    digest = verify.digest_parquet(ds.parquet, columns(ds))
    ds.checksum = digest.checksum
    meta = {"version": SHAPES_VERSION, "rows": n, "checksum": digest.checksum}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(
        f"[shapes] {shape.name}: {digest} in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    return ds


def columns(ds: Dataset) -> tuple[verify.Column, ...]:
    """The checksum columns of a shape's data set."""
    return verify.columns_of(pq.read_schema(ds.parquet))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="benchmark size")
    args = parser.parse_args()
    for shape in SHAPES.values():
        ds = ensure(shape, args.rows)
        meta = pq.read_metadata(ds.parquet)
        print(f"{shape.name}: {ds.rows:,} rows, {meta.num_row_groups} row groups, {ds.parquet}")


if __name__ == "__main__":
    main()
