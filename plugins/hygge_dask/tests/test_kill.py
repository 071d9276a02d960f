"""A worker process killed in the middle of a run: the unit it was staging runs again on
another worker, over its own half-written staging files, and every row lands once."""

from __future__ import annotations

import os
import pathlib
import signal
import threading
import time
from typing import Any

import pytest

from hygge_core.runner import FlowResult
from hygge_core.testing import FlowHarness, tables_equal

pytestmark = pytest.mark.services

# Units must last long enough for the watcher to catch one mid-write: at 120,000 rows a
# unit took ~0.2 s after this session's start-up and allocator changes, and a loaded CI
# run missed every one of them; 480,000 rows take ~0.8 s.
FILES, ROWS = 8, 480_000


def test_killing_a_worker_mid_unit_still_lands_every_row_once(
    tmp_path: pathlib.Path, scheduler: str, client: Any, kit: Any, unit_log: Any
) -> None:
    source = kit.write_home(tmp_path / "home", files=FILES, rows=ROWS)
    lake = tmp_path / "lake"
    flows = {
        "copy": {
            # Small batches make a unit last long enough (~0.8 s) to be killed mid-way;
            # small row groups make the store write while it reads, so the killed attempt
            # leaves a half-written staging file behind for the re-run to overwrite.
            "home": {"type": "parquet", "path": str(tmp_path / "home"), "batch_rows": 50},
            "store": {"type": "parquet", "path": str(lake), "row_group_rows": 10_000},
        }
    }
    pids: dict[str, int] = client.run(os.getpid)
    assert len(pids) == 2
    results: list[FlowResult] = []
    run = threading.Thread(
        target=lambda: results.extend(
            FlowHarness(tmp_path).run(flows, executor={"type": "dask", "address": scheduler})
        )
    )
    run.start()
    victim, unit_key = _kill_a_worker_mid_unit(client, pids, lake)
    run.join(timeout=300)
    assert not run.is_alive()
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed process

    (result,) = results
    assert result.status == "ok", result.error
    assert result.rows == FILES * ROWS
    got = kit.read_store(lake)
    assert got.num_rows == FILES * ROWS
    assert got.column("id").to_pylist() == list(range(FILES * ROWS))  # no row twice, none lost
    assert tables_equal(got, source)
    assert kit.staging_files(lake) == []

    # The killed unit was staged again elsewhere, and each unit's receipt came back once.
    staged = [r for r in unit_log.records if "staged on" in r.getMessage()]
    assert len(staged) == FILES
    index = int(unit_key.rsplit("-", 1)[1])
    unit_id = f"f{index:02d}.parquet#rg0-0"
    assert kit.staged_on(unit_log)[unit_id] != victim


def _kill_a_worker_mid_unit(
    client: Any, pids: dict[str, int], lake: pathlib.Path, after: int = 4
) -> tuple[str, str]:
    """Wait until a worker is writing a unit's staging file (once `after` staging files
    exist, so the run is in full swing), then SIGKILL that worker process. Returns its
    address and the unit's task key."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = len(list((lake / "_hygge_staging").rglob("part-*"))) if lake.exists() else 0
        if done >= after:
            for address, keys in client.processing().items():
                units = [str(k) for k in keys if "-unit-" in str(k)]
                if address in pids and units:
                    seq = int(units[0].rsplit("-", 1)[1])
                    mine = list(lake.rglob(f"_hygge_staging/**/part-*-{seq:05d}-*.parquet"))
                    if not mine:
                        continue
                    os.kill(pids[address], signal.SIGKILL)
                    return address, units[0]
        time.sleep(0.01)
    pytest.fail("no unit was seen running on a worker within 120 s")


def test_a_unit_whose_worker_keeps_dying_fails_the_flow_and_a_rerun_converges(
    tmp_path: pathlib.Path, own_cluster: Any, kit: Any
) -> None:
    from distributed import Client

    # Our own scheduler, which gives a unit up after its first worker death.
    fragile_cluster = own_cluster.scheduler(allowed_failures=0)
    own_cluster.worker()

    source = kit.write_home(tmp_path / "home", files=4, rows=100_000)
    lake = tmp_path / "lake"
    flows = {
        "copy": {
            "home": {"type": "parquet", "path": str(tmp_path / "home"), "batch_rows": 50},
            "store": {"type": "parquet", "path": str(lake), "row_group_rows": 10_000},
        }
    }
    harness = FlowHarness(tmp_path)
    executor = {"type": "dask", "address": fragile_cluster}
    with Client(fragile_cluster, timeout=10, set_as_default=False) as client:
        client.wait_for_workers(1, timeout=30)
        pids: dict[str, int] = client.run(os.getpid)
        results: list[FlowResult] = []
        run = threading.Thread(target=lambda: results.extend(harness.run(flows, executor=executor)))
        run.start()
        victim, unit_key = _kill_a_worker_mid_unit(client, pids, lake, after=0)
        run.join(timeout=300)
        assert not run.is_alive()

        (failed,) = results
        assert failed.status == "failed"
        index = int(unit_key.rsplit("-", 1)[1])
        assert failed.error == (
            f"unit f{index:02d}.parquet#rg0-0: the dask workers running it died 1 time(s), "
            f"the last {victim}; see the worker logs (out of memory?)"
        )
        assert not list(lake.glob("*.parquet"))  # nothing of the failed run is visible

        client.wait_for_workers(1, timeout=60)  # the nanny brought a new worker process up
        (again,) = harness.run(flows, executor=executor)
    assert again.status == "ok", again.error
    got = kit.read_store(lake)
    assert got.column("id").to_pylist() == list(range(4 * 100_000))
    assert tables_equal(got, source)
    assert kit.staging_files(lake) == []
