"""The Iceberg home read incrementally by snapshot (issue 15): each run reads only the data
files appended since the snapshot the flow committed last, kept in the flow's state."""

from __future__ import annotations

import json
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from pyiceberg.catalog.sql import SqlCatalog

from hygge_core.testing import FlowHarness, Kill, run_hygge, tables_equal


def rows(ids: range) -> pa.Table:
    v = pa.array([f"v{i}" for i in ids], pa.string())
    return pa.table({"id": pa.array(list(ids), pa.int64()), "v": v})


@pytest.fixture
def harness(tmp_path: pathlib.Path) -> FlowHarness:
    return FlowHarness(tmp_path)


def catalog(wh: pathlib.Path) -> SqlCatalog:
    return SqlCatalog("hygge", uri=f"sqlite:///{wh}/catalog.db", warehouse=f"file://{wh}")


def source(wh: pathlib.Path) -> object:
    cat = catalog(wh)
    cat.create_namespace_if_not_exists("lake")
    return cat.create_table("lake.events", schema=rows(range(0)).schema)


def flow(wh: pathlib.Path, out: pathlib.Path) -> dict:
    home = {"type": "iceberg", "warehouse": str(wh), "table": "lake.events"}
    home["incremental_by"] = "snapshot"
    return {"home": home, "store": {"type": "parquet", "path": str(out)}}


def state(out: pathlib.Path) -> dict:
    return json.loads((out / "_hygge" / "state" / "copy.json").read_text())


def test_three_runs_read_only_the_new_rows(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    wh, out = tmp_path / "wh", tmp_path / "out"
    wh.mkdir()
    table = source(wh)
    seen = []
    for run, ids in enumerate([range(0, 5), range(5, 8), range(8, 20)]):
        table.append(rows(ids))
        if run == 2:
            table.append(rows(range(20, 22)))  # two snapshots between runs: both read
        results = harness.run_ok({"copy": flow(wh, out)})
        table.refresh()
        new = rows(ids) if run < 2 else pa.concat_tables([rows(ids), rows(range(20, 22))])
        seen.append(new)
        assert results[0].rows == new.num_rows, f"run {run + 1} read {results[0].rows} rows"
        assert tables_equal(pa.concat_tables(seen), pq.read_table(out))
        assert state(out)["position"] == {"snapshot_id": table.current_snapshot().snapshot_id}
    # Nothing new: nothing read, the position stays.
    results = harness.run_ok({"copy": flow(wh, out)})
    assert results[0].rows == 0
    assert state(out)["position"] == {"snapshot_id": table.current_snapshot().snapshot_id}


def test_a_crash_after_the_commit_record_reads_nothing_twice(tmp_path: pathlib.Path) -> None:
    wh, out = tmp_path / "wh", tmp_path / "out"
    wh.mkdir()
    table = source(wh)
    table.append(rows(range(0, 10)))
    path = tmp_path / "flows.yaml"
    path.write_text(yaml.safe_dump({"flows": {"copy": flow(wh, out)}}))
    assert run_hygge("run", str(path)).returncode == 0
    table.append(rows(range(10, 15)))
    killed = run_hygge("run", str(path), kill=Kill(point="commit.record"))
    assert killed.returncode == -9
    rerun = run_hygge("run", str(path))  # rolls the decided commit forward, reads nothing
    assert rerun.returncode == 0, rerun.stderr
    assert tables_equal(rows(range(0, 15)), pq.read_table(out))
    table.refresh()
    snapshot = table.current_snapshot().snapshot_id
    assert state(out)["position"] == {"snapshot_id": snapshot}
    shown = run_hygge("state", "show", str(path))
    assert shown.returncode == 0
    assert f'  position {{"snapshot_id": {snapshot}}}' in shown.stdout.splitlines()


def test_a_delete_between_runs_fails_naming_the_snapshot(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    wh, out = tmp_path / "wh", tmp_path / "out"
    wh.mkdir()
    table = source(wh)
    table.append(rows(range(0, 4)))
    harness.run_ok({"copy": flow(wh, out)})
    table.delete("id = 1")  # rewrites the file: an overwrite snapshot
    table.refresh()
    snapshot = table.current_snapshot().snapshot_id
    results = harness.run({"copy": flow(wh, out)})
    assert results[0].status == "failed"
    assert results[0].error == (
        f"iceberg table lake.events: snapshot {snapshot} is an 'overwrite' (not an append), but "
        "incremental_by: snapshot reads only appended data; read this table with "
        "incremental: {cursor: ...} or in full (`hygge state reset`)"
    )
    assert tables_equal(rows(range(0, 4)), pq.read_table(out))


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"snapshot_id": 1}, "remove snapshot_id: (time travel) or incremental_by:"),
        ({"incremental": {"cursor": "id"}}, "or incremental_by: snapshot, not both"),
    ],
)
def test_incremental_by_snapshot_excludes_other_reads(
    harness: FlowHarness, tmp_path: pathlib.Path, extra: dict, message: str
) -> None:
    spec = flow(tmp_path / "wh", tmp_path / "out")
    spec["home"].update(extra)
    assert message in harness.config_error({"copy": spec})
