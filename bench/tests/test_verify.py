"""The checksum must ignore storage choices and row order, and notice any change of content.

Run with ``.venv/bin/python -m pytest bench/tests`` (not part of the project's test paths: the
benchmark is a tool beside hygge, not part of it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "programs"))

import gen  # noqa: E402
import verify  # noqa: E402


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return pa.Table.from_batches([gen.make_chunk(0, 20_000)])


def digest(t: pa.Table, chunk: int | None = None) -> verify.Digest:
    return verify.digest_batches(t.to_batches(max_chunksize=chunk))


def test_generation_is_deterministic() -> None:
    assert gen.make_chunk(3, 1000).equals(gen.make_chunk(3, 1000))
    assert not gen.make_chunk(3, 1000).equals(gen.make_chunk(4, 1000))


def test_order_and_batching_do_not_matter(table: pa.Table) -> None:
    perm = np.random.default_rng(7).permutation(table.num_rows)
    assert digest(table) == digest(table.take(pa.array(perm)), chunk=777)


def test_storage_types_do_not_matter(table: pa.Table) -> None:
    t = table
    t = t.set_column(3, "quantity", t.column("quantity").cast(pa.int64()))
    t = t.set_column(4, "is_active", t.column("is_active").cast(pa.int64()))
    t = t.set_column(6, "comment", t.column("comment").cast(pa.large_string()))
    t = t.set_column(5, "category", t.column("category").dictionary_encode())
    t = t.set_column(7, "created_at", t.column("created_at").cast(pa.timestamp("us", tz="UTC")))
    t = t.append_column("_dlt_id", pa.array(["x"] * t.num_rows))  # extra columns are ignored
    assert digest(t) == digest(table)


def test_sqlite_text_timestamps_match(table: pa.Table) -> None:
    t = table.set_column(7, "created_at", table.column("created_at").cast(pa.string()))
    t = t.set_column(8, "event_date", t.column("event_date").cast(pa.string()))
    assert digest(t) == digest(table)


@pytest.mark.parametrize(
    "change",
    ["replace_row", "duplicate_row", "truncate_ms", "shift_day", "edit_string", "null_value"],
)
def test_content_changes_are_noticed(table: pa.Table, change: str) -> None:
    t = table
    if change == "replace_row":  # one row lost, another doubled: the count alone would pass
        t = pa.concat_tables([t.slice(0, 10), t.slice(11), t.slice(12, 1)])
    elif change == "duplicate_row":  # the last row replaced by a copy of the first
        t = pa.concat_tables([t.slice(0, t.num_rows - 1), t.slice(0, 1)])
    elif change == "truncate_ms":
        ms = t.column("created_at").cast(pa.timestamp("ms"), safe=False).cast(pa.timestamp("us"))
        t = t.set_column(7, "created_at", ms)
    elif change == "shift_day":
        days = pa.array(t.column("event_date").cast(pa.int32()).to_numpy() + 1, pa.int32())
        t = t.set_column(8, "event_date", days.cast(pa.date32()))
    elif change == "edit_string":
        s = t.column("comment").to_pylist()
        s[5] = s[5][:-1] + ("x" if s[5][-1] != "x" else "y")
        t = t.set_column(6, "comment", pa.array(s))
    elif change == "null_value":
        v = t.column("customer_id").to_pylist()
        v[3] = None
        t = t.set_column(1, "customer_id", pa.array(v, pa.int64()))
    assert t.num_rows == table.num_rows
    assert digest(t) != digest(table)


def test_parquet_folder_skips_staging(tmp_path: Path, table: pa.Table) -> None:
    pq.write_table(table.slice(0, 5000), tmp_path / "part-0.parquet")
    (tmp_path / "sub").mkdir()
    pq.write_table(table.slice(5000), tmp_path / "sub" / "part-1.parquet")
    (tmp_path / "_hygge_staging").mkdir()
    pq.write_table(table, tmp_path / "_hygge_staging" / "part-9.parquet")
    assert verify.digest_parquet(tmp_path) == digest(table)
    assert verify.digest_parquet(tmp_path / "missing") == verify.Digest(0, "0000000000000000")
