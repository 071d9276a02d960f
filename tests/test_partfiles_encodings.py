"""`PartitionedWriter` (the table formats' Parquet writer) chooses each column's encoding
as the Parquet store does, unless its caller set the encodings."""

from __future__ import annotations

import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from hygge_core.partfiles import PartitionedWriter

DICT = {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}


def table(rows: int = 20_000) -> pa.Table:
    rng = np.random.default_rng(5)
    return pa.table(
        {
            "id": pa.array(np.arange(rows, dtype=np.int64)),
            "category": pa.array([f"c{i}" for i in rng.integers(0, 10, rows)]),
            "code": pa.array(rng.integers(0, 1 << 60, rows, dtype=np.int64)),
        }
    )


def encodings(path: pathlib.Path) -> dict[str, set[str]]:
    meta = pq.read_metadata(path).row_group(0)
    return {
        meta.column(i).path_in_schema: set(meta.column(i).encodings)
        for i in range(meta.num_columns)
    }


def write(tmp_path: pathlib.Path, **options: object) -> pathlib.Path:
    data = table()
    writer = PartitionedWriter(
        pafs.LocalFileSystem(), str(tmp_path), "part", data.schema, writer_options=options
    )
    writer.write(data)
    writer.close()
    (path,) = tmp_path.glob("*.parquet")
    assert pq.read_table(path).equals(data)
    return path


def test_encodings_are_chosen_from_the_first_rows(tmp_path: pathlib.Path) -> None:
    found = encodings(write(tmp_path, compression="snappy"))
    assert found["category"] & DICT
    assert "DELTA_BINARY_PACKED" in found["id"] and not found["id"] & DICT
    assert not found["code"] & DICT


def test_the_callers_choice_wins(tmp_path: pathlib.Path) -> None:
    found = encodings(write(tmp_path, compression="snappy", use_dictionary=True))
    assert all(found[c] & DICT for c in ("id", "category", "code"))


def test_constant_columns_get_a_dictionary(tmp_path: pathlib.Path) -> None:
    """Load metadata and `constant:` columns (one value on every row) are written as one
    dictionary entry and run-length encoded indices: a few bytes per row group."""
    import datetime as dt

    from hygge_core.parquet_encodings import choose

    rows = 200_000
    data = table(rows).append_column(
        "_hygge_run_id", pa.repeat(pa.scalar("20261204T205612123Z-3f9a2c1b"), rows)
    )
    stamp = pa.scalar(dt.datetime(2026, 12, 4, tzinfo=dt.UTC), pa.timestamp("us", tz="UTC"))
    data = data.append_column("_hygge_loaded_at", pa.repeat(stamp, rows))
    data = data.append_column("source", pa.repeat(pa.scalar(7), rows))
    plan = choose(data, rows_per_group=1_000_000, compression="snappy")
    assert {"_hygge_run_id", "_hygge_loaded_at", "source"} <= set(plan.dictionary)
    path = tmp_path / "c.parquet"
    pq.write_table(data, path, compression="snappy", **plan.writer_options())
    meta = pq.read_metadata(path).row_group(0)
    for i in range(3, 6):
        column = meta.column(i)
        assert set(column.encodings) & DICT, column
        assert column.total_compressed_size < 2_000, column
    back = pq.read_table(path)
    assert back.schema.field("_hygge_run_id").type == pa.string()  # not a dictionary type
    assert back.column("_hygge_loaded_at").to_pylist()[-1] == stamp.as_py()


def test_given_the_flows_memory_it_writes_early_and_counts_what_it_gathers(
    tmp_path: pathlib.Path,
) -> None:
    # The table formats' writer under a 2 MiB unit share: half its writer part (768 KiB)
    # is passed by every second 20,000-row slice (430 KiB each), so the file gets a row
    # group per two slices, each counted while gathered and released when written.
    from hygge_core.memory import FlowMemory

    data = table()
    memory = FlowMemory(2 << 20)
    limit = memory.share.writer // 2
    writer = PartitionedWriter(
        pafs.LocalFileSystem(), str(tmp_path), "part", data.schema, memory=memory
    )
    for start in range(0, 200_000, 20_000):
        part = data.set_column(0, "id", pa.array(np.arange(start, start + 20_000)))
        writer.write(part)
        # The first slice of a pair is held to the byte; the second writes both, and
        # releases exactly what was held.
        gathered = part.nbytes if start % 40_000 == 0 else 0
        assert memory.held == writer.pending_bytes == gathered <= limit
    written = writer.close()
    assert memory.held == 0 and limit < memory.peak <= limit + data.nbytes
    file = pq.ParquetFile(tmp_path / written[0].path)
    assert file.num_row_groups == memory.flushed_early == 5
    assert [file.metadata.row_group(i).num_rows for i in range(5)] == [40_000] * 5
    landed = pq.read_table(tmp_path / written[0].path)
    assert landed.column("id").to_pylist() == list(range(200_000))


def test_a_row_group_written_releases_only_its_own_rows(tmp_path: pathlib.Path) -> None:
    """Two partitions: when one writes its row group, what the other gathered stays held,
    to the byte; closing releases the rest."""
    from hygge_core.memory import FlowMemory

    data = table()
    memory = FlowMemory(64 << 20)  # far above these rows: no early write
    writer = PartitionedWriter(
        pafs.LocalFileSystem(),
        str(tmp_path),
        "part",
        data.schema,
        folder=lambda key: f"k={key[0]}",
        row_group_rows=15_000,
        memory=memory,
    )
    small, full = data.slice(0, 5_000), data.slice(5_000, 15_000)
    writer.write(small, pa.table({"k": ["b"] * small.num_rows}))
    assert memory.held == writer.pending_bytes == small.nbytes
    writer.write(full, pa.table({"k": ["a"] * full.num_rows}))  # a whole row group: written
    assert memory.held == writer.pending_bytes == small.nbytes
    assert memory.flushed_early == 0
    written = {w.key: w for w in writer.close()}
    assert memory.held == writer.pending_bytes == 0
    assert pq.ParquetFile(tmp_path / written[("a",)].path).num_row_groups == 1
    assert pq.read_table(tmp_path / written[("b",)].path).equals(small)


def test_without_memory_it_gathers_whole_row_groups(tmp_path: pathlib.Path) -> None:
    data = table()
    writer = PartitionedWriter(pafs.LocalFileSystem(), str(tmp_path), "part", data.schema)
    for _ in range(13):  # 260,000 rows: two row groups of at most 131,072 (the default)
        writer.write(data)
    written = writer.close()
    groups = pq.ParquetFile(tmp_path / written[0].path).metadata
    assert [groups.row_group(i).num_rows for i in range(groups.num_row_groups)] == [
        131_072,
        128_928,
    ]
