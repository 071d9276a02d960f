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
