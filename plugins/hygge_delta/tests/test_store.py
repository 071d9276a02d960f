"""The Delta store: every mode, exactly-once through the log, crashes at the commit."""

from __future__ import annotations

import hashlib
import os
import pathlib
import re
import subprocess
import sys
import textwrap
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from hygge_core.testing import FlowHarness

FLOW = "orders"
HYGGE = os.path.join(os.path.dirname(sys.executable), "hygge")


@pytest.fixture
def harness(tmp_path: pathlib.Path) -> FlowHarness:
    return FlowHarness(tmp_path)


def rows(ids: range, *, p: str | None = None, v: float = 1.0) -> pa.Table:
    ids = list(ids)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "p": [p or f"p{i % 5}" for i in ids],
            "v": pa.array([v * i for i in ids], pa.float64()),
        }
    )


def table_at(path: pathlib.Path) -> pa.Table:
    return DeltaTable(str(path)).to_pyarrow_table().sort_by("id")


def flow(harness: FlowHarness, source: pa.Table, store: dict[str, Any], name: str = "src"):
    return {FLOW: {"home": harness.parquet_source(source, name, units=3), "store": store}}


def hygge_commits(path: pathlib.Path) -> list[dict[str, Any]]:
    return [e for e in DeltaTable(str(path)).history() if e.get("hygge.flow") == FLOW]


def test_append_then_replace(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    lake = tmp_path / "lake"
    store = {"type": "delta", "path": str(lake), "mode": "append"}
    harness.run_ok(flow(harness, rows(range(0, 300)), store, "a"))
    harness.run_ok(flow(harness, rows(range(300, 500)), store, "b"))
    assert table_at(lake).equals(rows(range(0, 500)))
    harness.run_ok(flow(harness, rows(range(7, 9)), {**store, "mode": "replace"}, "c"))
    assert table_at(lake).equals(rows(range(7, 9)))
    # One log entry per run, each carrying the flow's transaction number and state.
    commits = hygge_commits(lake)
    assert [c["hygge.txn"] for c in commits] == [3, 2, 1]
    assert DeltaTable(str(lake)).transaction_version(f"hygge:{FLOW}") == 3
    # Time travel still sees what replace removed.
    assert DeltaTable(str(lake), version=1).to_pyarrow_table().num_rows == 500


def test_merge_updates_and_inserts_in_one_run(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    lake = tmp_path / "lake"
    store = {"type": "delta", "path": str(lake), "mode": "merge", "keys": ["id"]}
    harness.run_ok(flow(harness, rows(range(0, 100)), store, "a"))
    changed = rows(range(50, 150), v=2.0)  # 50 updates, 50 inserts
    harness.run_ok(flow(harness, changed, store, "b"))
    expected = pa.concat_tables([rows(range(0, 50)), changed])
    assert table_at(lake).equals(expected)


def test_replace_partitions_leaves_other_partitions_untouched(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    lake = tmp_path / "lake"
    store = {
        "type": "delta",
        "path": str(lake),
        "mode": "replace_partitions",
        "partition_by": ["p"],
    }
    harness.run_ok(flow(harness, rows(range(0, 500)), store, "a"))
    before = _partition_files(lake)
    assert sorted(before) == [f"p=p{i}" for i in range(5)]
    # New data for 2 of the 5 partitions.
    fresh = pa.concat_tables([rows(range(1000, 1010), p="p1"), rows(range(2000, 2003), p="p3")])
    harness.run_ok(flow(harness, fresh, store, "b"))
    after = _partition_files(lake)
    for untouched in ("p=p0", "p=p2", "p=p4"):
        assert after[untouched] == before[untouched]  # same files, same bytes
    got = table_at(lake)
    kept = rows(range(0, 500)).filter(
        pa.compute.is_in(rows(range(0, 500))["p"], pa.array(["p0", "p2", "p4"]))
    )
    assert got.equals(pa.concat_tables([kept, fresh]).sort_by("id"))


def _partition_files(lake: pathlib.Path) -> dict[str, dict[str, str]]:
    """Folder → {file name: sha256} of the files the current version references."""
    found: dict[str, dict[str, str]] = {}
    for uri in DeltaTable(str(lake)).file_uris():
        path = pathlib.Path(unquote(uri))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        found.setdefault(path.parent.name, {})[path.name] = digest
    return found


def test_other_time_zones_land_as_the_same_instants(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    instants = pa.array([0, 1_700_000_000_000_000], pa.timestamp("us", "Europe/Oslo"))
    lake = tmp_path / "lake"
    harness.run_ok(flow(harness, pa.table({"t": instants}), {"type": "delta", "path": str(lake)}))
    back = DeltaTable(str(lake)).to_pyarrow_table()["t"]
    assert back.type == pa.timestamp("us", "UTC")
    assert back.cast(pa.int64()).to_pylist() == [0, 1_700_000_000_000_000]


def test_a_value_delta_cannot_hold_fails_naming_the_column(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    lake = tmp_path / "lake"
    source = pa.table({"id": [1], "at": pa.array([1], pa.time64("us"))})
    [result] = harness.run(flow(harness, source, {"type": "delta", "path": str(lake)}))
    assert result.status == "failed"
    assert result.error == (
        "column 'at' has type time64[us], which a Delta table cannot hold; cast it in the "
        "home (e.g. a SQL query) or drop it with columns:"
    )
    assert not lake.exists() or not DeltaTable.is_deltatable(str(lake))
    nanos = pa.table({"id": [1], "t": pa.array([1], pa.timestamp("ns"))})
    [result] = harness.run(flow(harness, nanos, {"type": "delta", "path": str(lake)}, "n"))
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith(
        "column 't': a value of type timestamp[ns] does not fit the Delta table's "
        "timestamp[us] without changing it"
    )
    assert not DeltaTable.is_deltatable(str(lake))
    assert [p for p in lake.rglob("*.parquet")] == []


def test_schema_drift_is_refused_with_the_diff(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    lake = tmp_path / "lake"
    store = {"type": "delta", "path": str(lake)}
    harness.run_ok(flow(harness, rows(range(3)), store, "a"))
    other = rows(range(3, 6)).append_column("extra", pa.array([1, 2, 3]))
    [result] = harness.run(flow(harness, other, store, "b"))
    assert result.status == "failed"
    assert result.error == (
        f"store {lake}: the data does not match the Delta table's schema:\n"
        "  + extra: int64 is not a column of the table\n"
        "  hint: set schema_drift: evolve to add new columns to the table, or use mode: "
        "replace with schema_drift: evolve to give the table the new schema"
    )
    assert table_at(lake).equals(rows(range(3)))
    # replace under evolve gives the table the new schema.
    flows = flow(harness, other, {**store, "mode": "replace"}, "c")
    flows[FLOW]["schema_drift"] = "evolve"
    harness.run_ok(flows)
    assert table_at(lake).equals(other)


@pytest.mark.parametrize("mode", ["append", "merge"])
def test_evolve_adds_new_columns_in_append_and_merge(
    harness: FlowHarness, tmp_path: pathlib.Path, mode: str
) -> None:
    lake = tmp_path / "lake"
    store: dict[str, Any] = {"type": "delta", "path": str(lake), "mode": mode}
    if mode == "merge":
        store["keys"] = ["id"]
    harness.run_ok(flow(harness, rows(range(4)), store, "a"))
    # Rows 2..5 with a new column: in merge, 2 and 3 are updated and 4, 5 inserted.
    other = rows(range(2, 6), v=2.0).append_column("extra", pa.array(["x", None, "y", "z"]))
    flows = flow(harness, other, store, "b")
    flows[FLOW]["schema_drift"] = "evolve"
    harness.run_ok(flows)
    got = table_at(lake)
    assert pa.schema(DeltaTable(str(lake)).schema().to_arrow()).names == ["id", "p", "v", "extra"]
    if mode == "append":
        old = rows(range(4)).append_column("extra", pa.nulls(4, pa.string()))
    else:
        old = rows(range(2)).append_column("extra", pa.nulls(2, pa.string()))
    order = [("id", "ascending"), ("v", "ascending")]
    want = pa.concat_tables([old, other]).sort_by(order)
    assert got.select(want.column_names).sort_by(order).equals(want)
    assert len(hygge_commits(lake)) == 2  # one data commit per run (the column add is apart)
    # A column the data lacks still fails under evolve, naming it; the table is unchanged.
    flows = flow(harness, rows(range(9, 10)).drop_columns(["v"]), store, "c")
    flows[FLOW]["schema_drift"] = "evolve"
    [result] = harness.run(flows)
    assert result.status == "failed" and "  - v: missing from the data" in (result.error or "")
    assert table_at(lake).select(want.column_names).sort_by(order).equals(want)


def test_incremental_runs_read_only_new_rows(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    lake = tmp_path / "lake"
    source = tmp_path / "src.parquet"
    flows = {
        FLOW: {
            "home": {"type": "parquet", "path": str(source), "incremental": {"cursor": "id"}},
            "store": {"type": "delta", "path": str(lake)},
        }
    }
    counts = []
    for upto in (100, 250, 400):
        pq.write_table(rows(range(0, upto)), source)
        [result] = harness.run_ok(flows)
        counts.append(result.rows)
    assert counts == [100, 150, 150]
    assert table_at(lake).equals(rows(range(0, 400)))
    state = hygge_commits(lake)[0]["hygge.state"]
    assert '"value":399' in state


def test_state_reset_makes_the_next_run_a_full_load(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    lake = tmp_path / "lake"
    source = tmp_path / "src.parquet"
    pq.write_table(rows(range(10)), source)
    flows = {
        FLOW: {
            "home": {"type": "parquet", "path": str(source), "incremental": {"cursor": "id"}},
            "store": {"type": "delta", "path": str(lake), "mode": "replace"},
        }
    }
    harness.run_ok(flows)
    [again] = harness.run_ok(flows)
    assert again.rows == 0
    path = harness.write(flows)
    out = subprocess.run(
        [HYGGE, "state", "reset", str(path), "--flow", FLOW],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    [full] = harness.run_ok(flows)
    assert full.rows == 10
    assert table_at(lake).equals(rows(range(10)))


# ---- crashes ------------------------------------------------------------------------------

CRASH = textwrap.dedent(
    """
    import os, sys
    from hygge_delta.store import DeltaStore
    from hygge_core.api import run_file

    where = sys.argv[2]
    real = DeltaStore._write  # writes the one log entry that publishes the run

    def write(self, *args):
        if where == "before":
            os._exit(9)  # the process dies before the log entry is written
        real(self, *args)
        os._exit(9)  # the entry landed; the process dies before its own bookkeeping

    DeltaStore._write = write
    run_file(sys.argv[1])
    """
)


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_crash_at_commit_converges_to_exactly_once(
    harness: FlowHarness, tmp_path: pathlib.Path, where: str
) -> None:
    lake = tmp_path / "lake"
    source = tmp_path / "src.parquet"
    pq.write_table(rows(range(0, 600)), source, row_group_size=200)
    flows = {
        FLOW: {
            "home": {
                "type": "parquet",
                "path": str(source),
                "unit_rows": 200,
                "incremental": {"cursor": "id"},
            },
            "store": {"type": "delta", "path": str(lake), "partition_by": ["p"]},
        }
    }
    path = harness.write(flows)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH, str(path), where], capture_output=True, text=True
    )
    assert crashed.returncode == 9, crashed.stderr
    written = list(lake.rglob("hygge-*.parquet"))
    assert len(written) >= 3 * 5  # three units, five partitions each
    [rerun] = harness.run_ok(flows)
    [line] = rerun.recovered
    if where == "before":
        assert re.fullmatch(
            rf"run \S+ never committed; its {len(written)} data file\(s\) removed", line
        )
        assert rerun.rows == 600
    else:
        assert re.fullmatch(r"run \S+ had committed before it stopped", line)
        assert rerun.rows == 0  # the state committed with the data: nothing new to read
    assert table_at(lake).equals(rows(range(0, 600)).sort_by("id"))
    # One log entry per run whose commit landed: the crashed run's (after) and the rerun's.
    commits = hygge_commits(lake)
    assert len(commits) == (1 if where == "before" else 2)
    assert len({c["hygge.run_id"] for c in commits}) == len(commits)
    # No file of the flow is left that the log does not reference.
    referenced = {pathlib.Path(unquote(u)).resolve() for u in DeltaTable(str(lake)).file_uris()}
    assert {p.resolve() for p in lake.rglob("hygge-*.parquet")} == referenced
    assert not list((lake / "_hygge" / "delta").rglob("runs/*.json"))


def test_a_retried_attempt_after_a_landed_commit_does_not_commit_twice(
    tmp_path: pathlib.Path,
) -> None:
    from hygge_delta.config import DeltaStoreConfig
    from hygge_delta.store import DeltaStore

    from hygge_core import FlowState, WorkUnit
    from hygge_core.testing.contracts import _context  # the kit's own context builder

    lake = tmp_path / "lake"
    store = DeltaStore(DeltaStoreConfig(type="delta", path=str(lake)), _context(FLOW, "run-1", {}))
    data = rows(range(10))
    state = FlowState(flow=FLOW)
    store.prepare(data.schema)
    first = store.stage(WorkUnit("u"), data.to_batches())
    store.commit([first], state)
    # The reply was "lost": the runner retries the attempt with the same store and run.
    store.prepare(data.schema)
    second = store.stage(WorkUnit("u"), data.to_batches())
    store.commit([second], state)
    assert table_at(lake).equals(data)
    assert len(hygge_commits(lake)) == 1
    assert sorted(p.name for p in lake.glob("hygge-*.parquet")) == sorted(
        pathlib.Path(f["path"]).name for f in first.payload["files"]
    )
    # A failure after that landed commit (abort) keeps the committed files.
    store.abort([second])
    assert table_at(lake).equals(data)
    assert os.path.exists(lake / first.payload["files"][0]["path"])


def test_files_half_written_by_a_killed_run_are_removed(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    """A SIGKILL inside an atomic write of the store's own state leaves its temporary file
    (the kit's random-instant kills found it); the next run's recover removes it."""
    lake = tmp_path / "lake"
    store = {"type": "delta", "path": str(lake), "mode": "append"}
    harness.run_ok(flow(harness, rows(range(0, 30)), store, "a"))
    (meta,) = (lake / "_hygge" / "delta").iterdir()
    (meta / "state.json.0a1b.tmp").write_text('{"version": ')
    (meta / "runs").mkdir(exist_ok=True)
    (meta / "runs" / "r1.json.2c3d.tmp").write_text("{")
    results = harness.run_ok(flow(harness, rows(range(30, 60)), store, "b"))
    assert results[0].rows == 30
    assert not list(meta.rglob("*.tmp"))
    assert table_at(lake).equals(rows(range(0, 60)))


def test_merge_applies_a_change_log(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    lake = tmp_path / "lake"
    store = {"type": "delta", "path": str(lake), "mode": "merge", "keys": ["id"]}

    def log(changes: list[tuple[int, float | None, str, int, int]]) -> pa.Table:
        ids, vs, ops, lsns, seqs = zip(*changes, strict=True)
        return pa.table(
            {
                "id": pa.array(ids, pa.int64()),
                "v": pa.array(vs, pa.float64()),
                "_op": pa.array(ops, pa.string()),
                "_lsn": pa.array(lsns, pa.int64()),
                "_seq": pa.array(seqs, pa.int64()),
            }
        )

    first = log([(i, i * 1.0, "insert", 1, i) for i in range(6)])
    harness.run_ok(flow(harness, first, store, "a"))
    # Out of order on purpose: the store orders by (_lsn, _seq), not by arrival.
    second = log(
        [
            (1, 10.0, "update", 3, 0),
            (1, 5.0, "update", 2, 0),  # older than the one above: loses
            (2, None, "delete", 2, 1),
            (7, 7.0, "insert", 2, 2),
            (7, None, "delete", 2, 3),  # inserted and deleted within the run
            (4, None, "delete", 2, 4),
            (4, 44.0, "insert", 4, 0),  # deleted, then inserted again
            (8, None, "delete", 2, 6),  # deleting an absent key changes nothing
            (9, 9.0, "insert", 2, 5),
        ]
    )
    harness.run_ok(flow(harness, second, store, "b"))
    assert table_at(lake).select(["id", "v", "_op"]).to_pylist() == [
        {"id": 0, "v": 0.0, "_op": "insert"},
        {"id": 1, "v": 10.0, "_op": "update"},
        {"id": 3, "v": 3.0, "_op": "insert"},
        {"id": 4, "v": 44.0, "_op": "insert"},
        {"id": 5, "v": 5.0, "_op": "insert"},
        {"id": 9, "v": 9.0, "_op": "insert"},
    ]
    harness.run_ok(flow(harness, log([(0, None, "delete", 5, 0)]), store, "c"))
    assert table_at(lake).column("id").to_pylist() == [1, 3, 4, 5, 9]
    # One commit per run, as for any merge.
    assert [c["hygge.txn"] for c in hygge_commits(lake)] == [3, 2, 1]


def test_a_change_log_without_its_order_is_refused(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    lake = tmp_path / "lake"
    store = {"type": "delta", "path": str(lake), "mode": "merge", "keys": ["id"]}
    source = pa.table({"id": pa.array([1], pa.int64()), "_op": ["insert"]})
    [result] = harness.run(flow(harness, source, store))
    assert result.error == (
        f"store {lake}: the home sends changes (_op) without the column(s) _lsn, _seq that "
        "order them; a merge cannot tell which change of a key is the last"
    )
    assert not lake.exists() or not (lake / "_delta_log").exists()
