"""`kill -9` of `hygge run` during a commit to an object store, then a rerun: exact result.

Object stores have no rename: `FileCommitter` publishes each staged file by a server-side
copy, then a delete, after writing its commit record in one PUT. These tests kill a real
`hygge run` process at each step of that protocol — with SIGKILL, at hygge-core's named
fault points (`HYGGE_FAULTS`), and once from outside at an unplanned instant — and check
that the next plain run converges: every row once, nothing left in `_hygge_staging`, no
unfinished commit record.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from hygge_core.testing import hygge_executable, sample_table, tables_equal

pytestmark = pytest.mark.services

FLOW = "events"
ROWS = 6000


def _write_flows(
    tmp_path: pathlib.Path, cloud: Any, table: pa.Table, mode: str, *, file_rows: int = 1000
) -> pathlib.Path:
    pq.write_table(table, tmp_path / "events.parquet", row_group_size=1000)
    home: dict[str, Any] = {"type": "parquet", "path": "events.parquet", "unit_rows": 1000}
    if mode == "append":
        home["incremental"] = {"cursor": "id"}  # the cursor committed with the data
    store = {
        "type": "parquet",
        "path": cloud.url("lake", FLOW),
        "connection": "lake",
        "mode": mode,
        "row_group_rows": 500,
        "file_rows": file_rows,
    }
    doc = {
        "connections": {"lake": cloud.connection},
        "flows": {FLOW: {"home": home, "store": store}},
    }
    path = tmp_path / "flows.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _hygge(tmp_path: pathlib.Path, cli: Any, faults: str | None = None) -> Any:
    return cli("run", "flows.yaml", cwd=tmp_path, env={"HYGGE_FAULTS": faults})


def _leftovers(cloud: Any) -> list[str]:
    return [
        f
        for f in cloud.files("lake", FLOW)
        if "/_hygge_staging/" in f or "/_hygge/commits/" in f or f.endswith(".tmp")
    ]


def _assert_converged(cloud: Any, want: pa.Table) -> None:
    got = cloud.read("lake", FLOW)
    assert got.num_rows == want.num_rows, f"{got.num_rows} rows visible, {want.num_rows} expected"
    assert tables_equal(got, want)
    assert _leftovers(cloud) == []


def _tables() -> tuple[pa.Table, pa.Table]:
    """A first load, and the same rows plus as many new ones (new ids)."""
    first = sample_table(ROWS, seed=1)
    more = sample_table(ROWS, seed=2)
    more = more.set_column(0, "id", pa.array(range(ROWS, 2 * ROWS), pa.int64()))
    return first, pa.concat_tables([first, more])


def _kill_then_rerun(
    cloud: Any, cli: Any, tmp_path: pathlib.Path, mode: str, faults: str
) -> tuple[Any, Any]:
    first, both = _tables()
    _write_flows(tmp_path, cloud, first, mode)
    assert _hygge(tmp_path, cli).code == 0
    _write_flows(tmp_path, cloud, both, mode)
    killed = _hygge(tmp_path, cli, faults)
    assert killed.code == -signal.SIGKILL, killed.text
    return killed, _hygge(tmp_path, cli)


@pytest.mark.parametrize("mode", ["replace", "append"])
@pytest.mark.parametrize(
    "faults",
    [
        "commit.record=kill",  # the commit is decided; nothing moved yet
        "commit.move@1=kill",  # one file copied and its staged copy deleted
        "commit.move@4=kill",  # most files published, old ones not yet deleted
        "commit.state=kill",  # every file moved, the record still there
        "commit.done=kill",  # committed, before the summary
        "unit.staged@3=kill",  # mid-staging: never committed
    ],
)
def test_s3_kill_at_each_commit_step(s3, cli, tmp_path: pathlib.Path, mode: str, faults: str):
    _, rerun = _kill_then_rerun(s3, cli, tmp_path, mode, faults)
    assert rerun.code == 0, rerun.text
    _assert_converged(s3, _tables()[1])
    if faults.startswith(("commit.record", "commit.move", "commit.state")):
        assert "completed the interrupted commit" in rerun.err


@pytest.mark.parametrize("faults", ["commit.record=kill", "commit.move@2=kill"])
def test_every_cloud_rolls_a_killed_commit_forward(
    cloud, cli, tmp_path: pathlib.Path, faults: str
) -> None:
    _, rerun = _kill_then_rerun(cloud, cli, tmp_path, "replace", faults)
    assert rerun.code == 0, rerun.text
    assert "completed the interrupted commit" in rerun.err
    _assert_converged(cloud, _tables()[1])


@pytest.mark.parametrize("mode", ["replace", "append"])
def test_crash_between_copy_and_delete(cloud, cli, tmp_path: pathlib.Path, mode: str) -> None:
    """The one step no fault point splits: a file copied into place whose staged source
    was not yet deleted. Built by hand from a real killed run, then rolled forward."""
    record = _kill_after_record(cloud, cli, tmp_path, mode)
    src, dst = record["moves"][0]
    cloud.fs.copy(src, dst)  # the copy happened; the process died before the delete
    assert cloud.fs.exists(src) and cloud.fs.exists(dst)
    rerun = _hygge(tmp_path, cli)
    assert rerun.code == 0, rerun.text
    assert "completed the interrupted commit" in rerun.err
    _assert_converged(cloud, _tables()[1])


def _kill_after_record(cloud: Any, cli: Any, tmp_path: pathlib.Path, mode: str) -> dict[str, Any]:
    first, both = _tables()
    _write_flows(tmp_path, cloud, first, mode)
    assert _hygge(tmp_path, cli).code == 0
    _write_flows(tmp_path, cloud, both, mode)
    killed = _hygge(tmp_path, cli, "commit.record=kill")
    assert killed.code == -signal.SIGKILL, killed.text
    records = [f for f in cloud.files("lake", FLOW) if "/_hygge/commits/" in f]
    assert len(records) == 1, records
    return json.loads(cloud.fs.cat_file(records[0]))


def test_s3_sigkill_from_outside_during_commit(s3, cli, tmp_path: pathlib.Path) -> None:
    """No fault point: the test watches the bucket and kills the process with SIGKILL as
    soon as the commit record appears, while it is copying 24 files into place."""
    first, both = _tables()
    _write_flows(tmp_path, s3, first, "replace", file_rows=500)
    assert _hygge(tmp_path, cli).code == 0
    _write_flows(tmp_path, s3, both, "replace", file_rows=500)
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("HYGGE_FAULTS", None)
    proc = subprocess.Popen(
        [hygge_executable(), "run", "flows.yaml"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    records = s3.key("lake", FLOW, "_hygge", "commits", FLOW)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if s3.fs.exists(records) and s3.fs.ls(records):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        code = proc.wait(timeout=60)
    if code != -signal.SIGKILL:
        pytest.fail(f"the run ended ({code}) before its commit record could be seen")
    rerun = _hygge(tmp_path, cli)
    assert rerun.code == 0, rerun.text
    _assert_converged(s3, both)
