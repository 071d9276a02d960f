"""The Delta home: pinned versions, time travel, pruning, filters, incremental reads."""

from __future__ import annotations

import datetime as dt
import pathlib
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from hygge_core.testing import FlowHarness

FLOW = "t"


@pytest.fixture
def harness(tmp_path: pathlib.Path) -> FlowHarness:
    return FlowHarness(tmp_path)


def data(ids: range) -> pa.Table:
    ids = list(ids)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "region": ["eu" if i % 3 else "us" for i in ids],
            "day": pa.array([dt.date(2024, 1, 1 + i % 28) for i in ids]),
        }
    )


def run(harness: FlowHarness, tmp_path: pathlib.Path, home: dict[str, Any], name: str) -> pa.Table:
    sink = tmp_path / name
    harness.run_ok(
        {FLOW: {"home": home, "store": {"type": "parquet", "path": str(sink), "mode": "replace"}}}
    )
    return pq.read_table(sink).sort_by("id")


def test_partitioned_table_reads_back_with_its_partition_columns(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    table = tmp_path / "t"
    write_deltalake(str(table), data(range(100)), partition_by=["region"])
    got = run(harness, tmp_path, {"type": "delta", "path": str(table)}, "out")
    expected = data(range(100))
    assert got.select(expected.column_names).equals(expected)


def test_version_and_as_of_read_an_older_snapshot(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    table = tmp_path / "t"
    write_deltalake(str(table), data(range(10)))
    write_deltalake(str(table), data(range(10, 30)), mode="append")
    write_deltalake(str(table), data(range(5)), mode="overwrite")
    home = {"type": "delta", "path": str(table)}
    assert run(harness, tmp_path, home, "now").equals(data(range(5)))
    assert run(harness, tmp_path, {**home, "version": 1}, "v1").equals(data(range(30)))
    first = DeltaTable(str(table)).history()[-1]["timestamp"]  # version 0, in ms
    as_of = dt.datetime.fromtimestamp(first / 1000 + 0.0005, dt.UTC).isoformat()
    assert run(harness, tmp_path, {**home, "as_of": as_of}, "t0").equals(data(range(10)))


def test_columns_and_filter(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    table = tmp_path / "t"
    write_deltalake(str(table), data(range(60)), partition_by=["region"])
    home = {
        "type": "delta",
        "path": str(table),
        "columns": ["id", "day"],
        "filter": [["region", "=", "us"], ["day", ">=", "2024-01-10"]],
    }
    got = run(harness, tmp_path, home, "out")
    source = data(range(60))
    keep = [
        r for r in source.to_pylist() if r["region"] == "us" and r["day"] >= dt.date(2024, 1, 10)
    ]
    assert got.to_pylist() == [{"id": r["id"], "day": r["day"]} for r in keep]


def test_a_bad_filter_is_reported_naming_the_column(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    table = tmp_path / "t"
    write_deltalake(str(table), data(range(3)))
    home = {"type": "delta", "path": str(table), "filter": [["day", ">", "not a date"]]}
    [result] = harness.run(
        {FLOW: {"home": home, "store": {"type": "parquet", "path": str(tmp_path / "o")}}}
    )
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith(
        "filter: value 'not a date' does not fit column 'day' (date32[day]): "
    )


def test_incremental_reads_skip_files_and_read_only_new_rows(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    table = tmp_path / "t"
    home = {"type": "delta", "path": str(table), "incremental": {"cursor": "id"}}
    flows = {FLOW: {"home": home, "store": {"type": "parquet", "path": str(tmp_path / "o")}}}
    read = []
    units = []
    for lo, hi in ((0, 100), (100, 150), (150, 400)):
        write_deltalake(str(table), data(range(lo, hi)), mode="append")
        [result] = harness.run_ok(flows)
        read.append(result.rows)
        units.append(result.units)
    assert read == [100, 50, 250]
    assert units == [1, 1, 1]  # the files already read are skipped by their statistics
    assert pq.read_table(tmp_path / "o").sort_by("id").equals(data(range(400)))


def test_delta_to_delta_keeps_every_row(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    source, target = tmp_path / "a", tmp_path / "b"
    write_deltalake(str(source), data(range(500)), partition_by=["region"])
    harness.run_ok(
        {
            FLOW: {
                "home": {"type": "delta", "path": str(source)},
                "store": {"type": "delta", "path": str(target), "partition_by": ["region"]},
            }
        }
    )
    got = DeltaTable(str(target)).to_pyarrow_table().sort_by("id")
    assert got.select(["id", "region", "day"]).equals(data(range(500)))
