"""What the Parquet home holds while it reads a unit: its read buffers stay within the unit's
reader share however many columns the file has, and what it holds is counted."""

from __future__ import annotations

import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hygge_parquet.home import ParquetHome

from hygge_core.context import FlowContext
from hygge_core.files import MIN_COLUMN_BUFFER
from hygge_core.memory import FlowMemory
from hygge_core.plugins import load_registry
from hygge_core.storage import StorageResolver

MB = 1 << 20
# What pyarrow holds per column beside its read buffer: a data page (1 MiB as pyarrow,
# polars and duckdb write them) compressed and decompressed, and the decoder's scratch.
# Measured 2.5-2.7 MiB with 8,192-row batches.
PAGE_BYTES = 3 * MB


def texts(rows: int, seed: int) -> pa.Array:
    """Random 32-character strings: snappy cannot shrink them, so the column chunk is big."""
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", np.uint8)
    data = letters[np.random.default_rng(seed).integers(0, 36, rows * 32)]
    offsets = np.arange(0, (rows + 1) * 32, 32, dtype=np.int32)
    return pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data.tobytes()))


def home(path: pathlib.Path, budget: int, parallelism: int = 1, **config: object) -> ParquetHome:
    ctx = FlowContext(flow="f", run_id="r", storage=StorageResolver(load_registry().storages))
    ctx.memory = FlowMemory(budget)
    ctx.parallelism = parallelism
    model = ParquetHome.config_model.model_validate(
        {"type": "parquet", "path": str(path), **config}
    )
    return ParquetHome(model, ctx)  # type: ignore[arg-type]


def test_read_buffers_share_the_reader_share_among_columns(tmp_path: pathlib.Path) -> None:
    # 8 columns of 13 MiB each in one row group. Each column read gets a buffer of its own,
    # all alive at once: at the whole reader share each (16 MiB, capped by the chunk), the
    # unit held the whole row group's bytes, 8 x 13 MiB, while it counted 16 MiB.
    path = tmp_path / "in.parquet"
    table = pa.table({f"t{i}": texts(400_000, i) for i in range(8)})
    pq.write_table(table, path, row_group_size=400_000)
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).total_compressed_size > 12 * MB
    reader = home(path, 128 * MB, batch_rows=8192)
    share = reader.context.memory.share.reader
    assert share == 16 * MB
    (unit,) = reader.plan(None)
    assert unit.payload["leaves"] == 8

    base = pa.total_allocated_bytes()
    beyond = rows = 0
    for batch in reader.read(unit):
        beyond = max(beyond, pa.total_allocated_bytes() - base - batch.nbytes)
        rows += batch.num_rows
        del batch
    assert rows == 400_000
    assert beyond <= share + 8 * PAGE_BYTES, f"{beyond / MB:.1f} MiB beside the batch"
    assert reader.context.memory.peak == share and reader.context.memory.held == 0


def test_many_columns_count_their_minimum_buffers(tmp_path: pathlib.Path) -> None:
    # 40 columns under a 16 MiB reader share: each still reads through 1 MiB, and the
    # 40 MiB are counted as held, not the share.
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({f"t{i}": texts(40_000, i) for i in range(40)}), path)
    reader = home(path, 128 * MB)
    (unit,) = reader.plan(None)
    assert sum(b.num_rows for b in reader.read(unit)) == 40_000
    assert reader.context.memory.peak == 40 * MIN_COLUMN_BUFFER


@pytest.mark.parametrize(
    ("columns", "leaves"),
    [(None, 4), (["id"], 1), (["id", "point"], 3), (["tags"], 1)],
)
def test_leaves_count_the_parquet_columns_read(
    tmp_path: pathlib.Path, columns: list[str] | None, leaves: int
) -> None:
    path = tmp_path / "in.parquet"
    point = pa.array([{"x": 1.0, "y": 2.0}], pa.struct([("x", pa.float64()), ("y", pa.float64())]))
    pq.write_table(
        pa.table({"id": [1], "point": point, "tags": pa.array([["a"]], pa.list_(pa.string()))}),
        path,
    )
    (unit,) = home(path, 128 * MB, columns=columns).plan(None)
    assert unit.payload["leaves"] == leaves


@pytest.mark.parametrize(
    ("group", "parallelism", "threads"),
    [
        # One 100,000-row row group is one unit: on two cores it decodes on Arrow's threads.
        (100_000, 2, [True]),
        # Four units keep both cores busy to the end: no unit needs them.
        (25_000, 2, [False] * 4),
        # Five units on two cores: the fifth runs alone, and decodes on Arrow's threads.
        (20_000, 2, [False] * 4 + [True]),
    ],
)
def test_units_of_a_short_last_round_decode_on_arrow_threads(
    tmp_path: pathlib.Path, group: int, parallelism: int, threads: list[bool]
) -> None:
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": range(100_000)}), path, row_group_size=group)
    reader = home(path, 128 * MB, parallelism=parallelism, unit_rows=group)
    units = reader.plan(None)
    assert [u.payload.get("threads", False) for u in units] == threads
    got = pa.Table.from_batches([b for u in units for b in reader.read(u)])
    assert got.column("id").to_pylist() == list(range(100_000))
