"""Another writer commits to the table after a hygge run staged its rows and before it
commits: an append lands beside ours (Delta lets concurrent appends through), and a merge
applies on top of the other writer's commit — including a delete of rows our merge
rewrites, which must not come back. Every row is there exactly once and the log holds one
hygge commit per run. (The merge reads the table inside its commit, so the window in which
two commits could truly race is delta-rs's, guarded by its conflict checker.)
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import time
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from hygge_core.testing import FlowHarness, hygge_executable

FLOW = "orders"
ORDER = [("id", "ascending"), ("v", "ascending")]


def rows(ids: range, *, v: float = 1.0) -> pa.Table:
    ids = list(ids)
    return pa.table(
        {"id": pa.array(ids, pa.int64()), "v": pa.array([v * i for i in ids], pa.float64())}
    )


def table_at(lake: pathlib.Path) -> list[dict[str, Any]]:
    return DeltaTable(str(lake)).to_pyarrow_table().sort_by(ORDER).to_pylist()


def hygge_txns(lake: pathlib.Path) -> list[int]:
    return [e["hygge.txn"] for e in DeltaTable(str(lake)).history() if e.get("hygge.flow") == FLOW]


def run_with_a_writer_at_commit(
    harness: FlowHarness, source: pa.Table, store: dict[str, Any], write: Any
) -> subprocess.CompletedProcess[str]:
    """Run the flow in a child that pauses 4 s at the start of its commit (after staging);
    `write()` runs in that pause, once the run's staged files are in the table's folder."""
    lake = pathlib.Path(store["path"])

    def staged() -> set[pathlib.Path]:
        # Appended rows are staged as data files in place, merge sources under staging.
        return set(lake.glob("hygge-*")) | set(lake.glob("_hygge_staging/**/*.parquet"))

    before = staged()
    spec = {FLOW: {"home": harness.parquet_source(source, "src", units=1), "store": store}}
    spec[FLOW]["retry"] = {"attempts": 3, "initial": 0.2}
    path = harness.write(spec)
    env = {**os.environ, "HYGGE_FAULTS": "commit.start=sleep:4"}
    child = subprocess.Popen(
        [hygge_executable(), "run", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not staged() - before:
        assert child.poll() is None, "the run ended before it staged anything"
        assert time.monotonic() < deadline, "the run staged nothing in 120 s"
        time.sleep(0.05)
    write()
    out, err = child.communicate(timeout=300)
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


@pytest.mark.parametrize("mode", ["append", "merge"])
def test_another_writer_during_the_commit(tmp_path: pathlib.Path, mode: str) -> None:
    """An append beside ours: no conflict, both land."""
    harness = FlowHarness(tmp_path)
    lake = tmp_path / "lake"
    store: dict[str, Any] = {"type": "delta", "path": str(lake), "mode": mode}
    if mode == "merge":
        store["keys"] = ["id"]
    harness.run_ok({FLOW: {"home": harness.parquet_source(rows(range(100)), "a"), "store": store}})
    ours = rows(range(50, 150), v=2.0)  # merge: 50 updates, 50 inserts
    theirs = rows(range(1000, 1010), v=3.0)

    def other_writer() -> None:
        write_deltalake(str(lake), theirs, mode="append")

    result = run_with_a_writer_at_commit(harness, ours, store, other_writer)
    assert result.returncode == 0, result.stdout + result.stderr
    if mode == "append":
        want = pa.concat_tables([rows(range(100)), ours, theirs])
    else:
        want = pa.concat_tables([rows(range(50)), ours, theirs])
    assert table_at(lake) == want.sort_by(ORDER).to_pylist()
    assert hygge_txns(lake) == [2, 1]  # one hygge commit per run, whatever was retried
    assert DeltaTable(str(lake)).transaction_version(f"hygge:{FLOW}") == 2


def test_a_conflicting_delete_during_a_merge_is_retried_on_top_of_it(
    tmp_path: pathlib.Path,
) -> None:
    """The other writer deletes rows our merge rewrites: our commit must not land over its
    delete as if it had not happened (deleted rows our run does not carry stay deleted)."""
    harness = FlowHarness(tmp_path)
    lake = tmp_path / "lake"
    store = {"type": "delta", "path": str(lake), "mode": "merge", "keys": ["id"]}
    harness.run_ok({FLOW: {"home": harness.parquet_source(rows(range(100)), "a"), "store": store}})
    ours = rows(range(50, 150), v=2.0)

    def other_writer() -> None:
        DeltaTable(str(lake)).delete("id < 10 or (id >= 60 and id < 70)")

    result = run_with_a_writer_at_commit(harness, ours, store, other_writer)
    assert result.returncode == 0, result.stdout + result.stderr
    # Serially, the delete and then our merge: ids 0-9 gone, 60-69 back from our rows.
    want = pa.concat_tables([rows(range(10, 50)), ours])
    assert table_at(lake) == want.sort_by(ORDER).to_pylist()
    assert hygge_txns(lake) == [2, 1]
