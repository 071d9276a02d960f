"""One run of a flow at a time on an object store: the lease lock of `hygge_core.leaselock`,
on each of S3, Azure Blob and GCS (their emulators), taken by an exclusive create."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from hygge_core import FileCommitter, FlowState, PermanentError, TransientError
from hygge_core.leaselock import LeaseLock, _boot_id, _started

pytestmark = pytest.mark.services

FLOW = "events"


def lock_folder(cloud: Any) -> str:
    return cloud.key("lake", "_hygge", "locks", FLOW)


def lease(cloud: Any, seconds: float = 60) -> LeaseLock:
    return LeaseLock(cloud.fs, lock_folder(cloud), FLOW, cloud.url("lake"), lease=seconds)


def plant(cloud: Any, number: int, holder: dict[str, Any]) -> None:
    """A lock object as another run would have left it."""
    cloud.fs.pipe_file(f"{lock_folder(cloud)}/{number:012d}.json", json.dumps(holder).encode())


def locks(cloud: Any) -> list[str]:
    return sorted(os.path.basename(p) for p in cloud.files("lake", "_hygge", "locks", FLOW))


def dead_process() -> dict[str, Any]:
    """The holder record of a process of this machine that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    started = _started(child.pid)
    child.wait()
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": child.pid, "started": started}


def test_a_second_run_is_refused_while_the_first_holds_the_lock(cloud: Any) -> None:
    with lease(cloud) as first:
        with pytest.raises(PermanentError) as refused:
            lease(cloud).acquire()
        message = str(refused.value)
        assert f"flow '{FLOW}' is already running into {cloud.url('lake')}" in message
        assert f"host {socket.gethostname()}, pid {os.getpid()}" in message
        assert locks(cloud) == [f"{first.number:012d}.json"], "the refused run left nothing"
    assert locks(cloud) == [], "released"
    with lease(cloud):  # free again
        pass


def test_the_lock_of_a_process_that_died_is_taken_over_at_once(cloud: Any) -> None:
    plant(cloud, 7, dead_process())
    with lease(cloud) as taken:
        assert taken.number == 8
        assert locks(cloud) == ["000000000008.json"], "the dead holder's object is gone"


def test_a_dead_lock_above_a_live_one_does_not_let_a_run_in(cloud: Any) -> None:
    """A run that died right after creating its number, above the live holder's: the next
    run must still find the live holder below it."""
    with lease(cloud) as live:
        plant(cloud, live.number + 1, dead_process())
        with pytest.raises(PermanentError, match=f"pid {os.getpid()}"):
            lease(cloud).acquire()
        assert locks(cloud) == [f"{n:012d}.json" for n in (live.number, live.number + 1)]


def test_another_machines_lock_lapses_after_its_lease(cloud: Any) -> None:
    plant(cloud, 1, {"host": "elsewhere", "boot": "b", "pid": 1, "started": 1})
    with pytest.raises(PermanentError, match="host elsewhere, pid 1"):
        lease(cloud, seconds=2).acquire()
    time.sleep(3.2)  # past the lease by the store's clock (S3 keeps whole seconds)
    with lease(cloud, seconds=2) as taken:
        assert taken.number == 2


def test_a_holder_renews_its_lease(cloud: Any) -> None:
    """Held past its lease by a live run, the lock stays held: the run rewrites it."""
    with lease(cloud, seconds=1.5):
        time.sleep(2.5)
        with pytest.raises(PermanentError, match="is already running"):
            lease(cloud, seconds=1.5).acquire()


def test_a_run_that_lost_its_lock_commits_nothing(cloud: Any) -> None:
    root = cloud.key("lake")
    committer = FileCommitter(cloud.fs, root, FLOW, atomic_rename=False)
    staged = f"{committer.staging_dir('r1')}/part-0.parquet"
    cloud.fs.pipe_file(staged, b"x")
    with committer.lock():
        plant(cloud, 99, {"host": "elsewhere", "pid": 2})  # another run took it over
        with pytest.raises(TransientError, match=f"flow '{FLOW}' lost its lock"):
            committer.commit("r1", [(staged, f"{root}/part-0.parquet")], [], FlowState(flow=FLOW))
    assert not cloud.fs.exists(committer.record_path("r1"))
    assert not cloud.fs.exists(f"{root}/part-0.parquet")


def test_hygge_run_stops_while_another_process_runs_the_flow(
    cloud: Any, cli: Any, tmp_path: pathlib.Path
) -> None:
    pq.write_table(pa.table({"id": pa.array(range(100), pa.int64())}), tmp_path / "in.parquet")
    store = {"type": "parquet", "path": cloud.url("lake"), "connection": "lake", "mode": "append"}
    doc = {
        "connections": {"lake": cloud.connection},
        "flows": {FLOW: {"home": "in.parquet", "store": store}},
    }
    (tmp_path / "flows.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    committer = FileCommitter(cloud.fs, cloud.key("lake"), FLOW, atomic_rename=False)
    with committer.lock():
        refused = cli("run", "flows.yaml", cwd=tmp_path)
    assert refused.code == 1, refused.text
    assert f"flow '{FLOW}' is already running into" in refused.err
    assert [f for f in cloud.files("lake") if f.endswith(".parquet")] == []
    done = cli("run", "flows.yaml", cwd=tmp_path)
    assert done.code == 0, done.text
    assert cloud.read("lake").num_rows == 100
    assert locks(cloud) == []
