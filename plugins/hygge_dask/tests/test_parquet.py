"""Parquet → Parquet on the real test cluster: same data as the local executor, units on
both workers, failures that name the unit and the worker and leave nothing behind."""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import re
import subprocess
import sys
import threading
import time
from typing import Any

import pyarrow.parquet as pq
import pytest
from hygge_dask import DaskExecutor
from hygge_parquet.home import ParquetHome, ParquetHomeConfig
from hygge_parquet.store import ParquetStore, ParquetStoreConfig

from hygge_core import FlowContext, PermanentError
from hygge_core.api import run_file
from hygge_core.executor import Cancelled, UnitsRequest
from hygge_core.plugins import load_registry
from hygge_core.storage import StorageResolver
from hygge_core.testing import FlowHarness, tables_equal

pytestmark = pytest.mark.services


def flow(home: pathlib.Path, store: pathlib.Path, **home_options: Any) -> dict[str, Any]:
    return {
        "copy": {
            "home": {"type": "parquet", "path": str(home), **home_options},
            "store": {"type": "parquet", "path": str(store), "mode": "replace"},
        }
    }


def test_forty_files_land_exactly_as_with_the_local_executor(
    tmp_path: pathlib.Path, scheduler: str, client: Any, kit: Any, unit_log: Any
) -> None:
    source = kit.write_home(tmp_path / "home", files=40, rows=2_500)
    harness = FlowHarness(tmp_path)
    (local,) = harness.run_ok(flow(tmp_path / "home", tmp_path / "local"))
    (remote,) = harness.run_ok(
        flow(tmp_path / "home", tmp_path / "dask"),
        executor={"type": "dask", "address": scheduler},
    )

    assert local.rows == remote.rows == 100_000
    assert local.units == remote.units == 40
    got = kit.read_store(tmp_path / "dask")
    assert got.num_rows == 100_000
    assert got.column("id").to_pylist() == list(range(100_000))  # every row once
    assert tables_equal(got, kit.read_store(tmp_path / "local"))
    assert tables_equal(got, source)
    assert kit.staging_files(tmp_path / "dask") == []

    placed = kit.staged_on(unit_log)
    assert len(placed) == 40
    assert set(placed.values()) == kit.workers(client)  # both workers took units
    assert len(set(placed.values())) == 2


def test_cli_scheduler_option_runs_on_the_cluster(
    tmp_path: pathlib.Path, scheduler: str, kit: Any
) -> None:
    """`hygge run flows.yaml --executor dask --scheduler ADDR`, as a user types it."""
    kit.write_home(tmp_path / "home", files=6, rows=1_000)
    path = FlowHarness(tmp_path).write(flow(tmp_path / "home", tmp_path / "lake"))
    hygge = pathlib.Path(sys.executable).parent / "hygge"
    done = subprocess.run(
        [str(hygge), "-v", "run", str(path), "--executor", "dask", "--scheduler", scheduler],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "[copy] committed 6,000 rows" in done.stderr
    assert "flow copy: unit f05.parquet#rg0-0 staged on tcp://127.0.0.1:" in done.stderr
    assert kit.read_store(tmp_path / "lake").column("id").to_pylist() == list(range(6_000))


def _corrupt_page(path: pathlib.Path, row_group: int = 0) -> None:
    """Break the first page header of a row group; the footer stays valid, so planning
    succeeds on the driver and the read fails on a worker, once it reaches that group."""
    column = pq.ParquetFile(path).metadata.row_group(row_group).column(0)
    offset = column.dictionary_page_offset or column.data_page_offset
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * 32)


def test_failed_unit_names_unit_and_worker_and_publishes_nothing(
    tmp_path: pathlib.Path, scheduler: str, client: Any, kit: Any
) -> None:
    kit.write_home(tmp_path / "home", files=12, rows=1_000)
    _corrupt_page(tmp_path / "home" / "f05.parquet")
    (result,) = FlowHarness(tmp_path).run(
        flow(tmp_path / "home", tmp_path / "lake"),
        executor={"type": "dask", "address": scheduler},
    )
    assert result.status == "failed"
    assert result.error is not None
    prefix = "unit f05.parquet#rg0-0 failed on dask worker "
    assert result.error.startswith(prefix), result.error
    worker = result.error[len(prefix) :].split(": ", 1)[0]
    assert worker in kit.workers(client)
    assert f"{worker}: OSError: Couldn't deserialize thrift: " in result.error
    lake = tmp_path / "lake"
    assert not list(lake.glob("*.parquet"))
    assert kit.staging_files(lake) == []


def test_failure_waits_for_running_units_before_the_abort(
    tmp_path: pathlib.Path, scheduler: str, kit: Any
) -> None:
    """A unit failing while others run: the others stop at their next batch, and only
    then does the runner abort, so no staged file appears after the abort."""
    # f00 fails in its last row group, while f01 runs on the other worker (units ~0.5 s).
    kit.write_home(tmp_path / "home", files=3, rows=400_000, row_group=100_000)
    _corrupt_page(tmp_path / "home" / "f00.parquet", row_group=3)
    started = time.monotonic()
    (result,) = FlowHarness(tmp_path).run(
        flow(tmp_path / "home", tmp_path / "lake", batch_rows=100),
        executor={"type": "dask", "address": scheduler},
    )
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith("unit f00.parquet#rg0-3 failed on dask worker tcp://")
    time.sleep(1.5)  # longer than a unit's cancel poll: a unit still running would show now
    assert kit.staging_files(tmp_path / "lake") == []
    assert not list((tmp_path / "lake").glob("*.parquet"))
    assert time.monotonic() - started < 60


class DriverOnlyStore(ParquetStore):
    """A store class only the driver can import: it lives in this test module."""


def test_a_worker_that_cannot_load_the_plugin_fails_before_any_unit(
    tmp_path: pathlib.Path, scheduler: str, kit: Any
) -> None:
    kit.write_home(tmp_path / "home", files=3, rows=100)
    home, plain = _objects(tmp_path, "r1")
    lake = tmp_path / "lake"
    store = DriverOnlyStore(plain.config, plain.context)
    executor = DaskExecutor({"address": scheduler})
    try:
        with pytest.raises(PermanentError) as info:
            executor.run_units(UnitsRequest(home, store, home.plan(None), 2, budget=1 << 20))
    finally:
        executor.close()
    module = DriverOnlyStore.__module__.split(".")[0]
    assert re.fullmatch(
        r"flow copy: dask worker tcp://127\.0\.0\.1:\d+ cannot load the home and store: "
        rf"No module named '{module}' \(install \S+ there\) \(and 1 more\); "
        r"every worker needs hygge-dask and the plugins the driver has",
        str(info.value),
    ), str(info.value)
    assert not lake.exists()  # nothing was staged: no unit ran


def _objects(tmp_path: pathlib.Path, run_id: str) -> tuple[ParquetHome, ParquetStore]:
    ctx = FlowContext(flow="copy", run_id=run_id, storage=StorageResolver(load_registry().storages))
    home = ParquetHome(ParquetHomeConfig(type="parquet", path=str(tmp_path / "home")), ctx)
    store = ParquetStore(ParquetStoreConfig(type="parquet", path=str(tmp_path / "lake")), ctx)
    return home, store


def test_on_unit_reports_each_unit_once_on_the_driver(
    tmp_path: pathlib.Path, scheduler: str, kit: Any
) -> None:
    """Batches stay on the workers (`reports_batches` is False): progress is per unit."""
    kit.write_home(tmp_path / "home", files=8, rows=1_000)
    home, store = _objects(tmp_path, "r-progress")
    units = [dataclasses.replace(u, seq=i) for i, u in enumerate(home.plan(None))]
    seen: list[tuple[str, int, str]] = []
    batches: list[Any] = []
    executor = DaskExecutor({"address": scheduler})
    assert executor.reports_batches is False
    try:
        results = executor.run_units(
            UnitsRequest(
                home,
                store,
                units,
                parallelism=2,
                budget=1 << 20,
                cursor="id",
                on_batch=lambda unit, batch: batches.append(batch),
                on_unit=lambda unit, r: seen.append(
                    (unit.id, r.rows, threading.current_thread().name)
                ),
            )
        )
    finally:
        executor.close()
    assert sorted(u for u, _, _ in seen) == sorted(u.id for u in units)  # each unit once
    assert {rows for _, rows, _ in seen} == {1_000}
    assert {thread for _, _, thread in seen} == {threading.current_thread().name}
    assert batches == []
    assert [r.staged.unit_id for r in results] == [u.id for u in units]  # in plan order
    assert [r.cursor_max.as_py() for r in results] == [f * 1_000 + 999 for f in range(8)]
    store.abort([r.staged for r in results])


def test_on_unit_raising_cancels_the_flow(tmp_path: pathlib.Path, scheduler: str, kit: Any) -> None:
    """How `--fail-fast` stops a Dask flow: the runner's callback raises `Cancelled`."""
    kit.write_home(tmp_path / "home", files=6, rows=1_000)
    home, store = _objects(tmp_path, "r-cancel")
    units = [dataclasses.replace(u, seq=i) for i, u in enumerate(home.plan(None))]
    calls = []

    def stop(unit: Any, result: Any) -> None:
        calls.append(unit.id)
        raise Cancelled("cancelled: another flow failed (--fail-fast)")

    executor = DaskExecutor({"address": scheduler})
    try:
        with pytest.raises(Cancelled, match=r"^cancelled: another flow failed \(--fail-fast\)$"):
            executor.run_units(UnitsRequest(home, store, units, 2, budget=1 << 20, on_unit=stop))
    finally:
        executor.close()
    assert len(calls) == 1  # not called again once the flow is failing
    store.abort([])


def test_units_wait_for_workers_that_join_later(
    tmp_path: pathlib.Path, own_cluster: Any, kit: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An autoscaling cluster may have no worker when the run starts: units queue, the
    plugin check waits for a worker, and the flow completes once one joins."""
    caplog.set_level(logging.INFO, logger="hygge.dask")
    source = kit.write_home(tmp_path / "home", files=3, rows=1_000)
    address = own_cluster.scheduler()
    results: list[Any] = []
    run = threading.Thread(
        target=lambda: results.extend(
            FlowHarness(tmp_path).run(
                flow(tmp_path / "home", tmp_path / "lake"),
                executor={"type": "dask", "address": address},
            )
        )
    )
    run.start()
    deadline = time.monotonic() + 30
    while "no dask worker is connected yet" not in caplog.text:
        assert time.monotonic() < deadline, "the executor did not report the empty cluster"
        time.sleep(0.05)
    assert run.is_alive()  # waiting, not failed
    own_cluster.worker()
    run.join(timeout=120)
    (result,) = results
    assert result.status == "ok", result.error
    assert tables_equal(kit.read_store(tmp_path / "lake"), source)


def _in_flight(tasks: list[dict[str, Any]], prefix: str, slack: float = 0.01) -> int:
    """The most of the task stream's tasks whose key starts with `prefix` that ran at once.

    Each worker process stamps its own start and stop times, and their clocks may differ by
    a few milliseconds: spans are shortened by `slack` at both ends before they are compared.
    """
    spans = sorted(
        (s["start"] + slack, s["stop"] - slack)
        for t in tasks
        if str(t["key"]).startswith(prefix)
        for s in t["startstops"]
        if s["action"] == "compute"
    )
    events = sorted([(start, 1) for start, _ in spans] + [(stop, -1) for _, stop in spans])
    most = now = 0
    for _, step in events:  # a stop sorts before a start at the same instant
        now += step
        most = max(most, now)
    return most


@pytest.mark.parametrize(("parallelism", "most"), [(1, 1), (None, 2)])
def test_a_flows_parallelism_caps_its_units_on_the_cluster(
    tmp_path: pathlib.Path, scheduler: str, client: Any, kit: Any, parallelism: Any, most: int
) -> None:
    """`parallelism: 1` runs one unit at a time on a cluster of two worker threads (to spare
    a database, say); without it the cluster runs as many as it has threads."""
    from distributed import get_task_stream

    kit.write_home(tmp_path / "home", files=8, rows=200_000)  # units of ~0.1 s
    flows = flow(tmp_path / "home", tmp_path / "lake")
    if parallelism is not None:
        flows["copy"]["parallelism"] = parallelism
    path = FlowHarness(tmp_path).write(flows)
    with get_task_stream(client=client) as stream:
        (result,) = run_file(str(path), executor="dask", executor_options={"address": scheduler})
    assert result.status == "ok", result.error
    assert result.units == 8
    assert kit.read_store(tmp_path / "lake").num_rows == 1_600_000
    spans = [(t["key"], t["startstops"]) for t in stream.data]
    assert _in_flight(stream.data, "hygge-copy-") == most, spans
