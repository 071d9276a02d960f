"""The byte budget bounds the process: units admitted by it, writers flushing under it, the
run-wide budget shared by flows, and sizing from the cgroup (emulated by HYGGE_CGROUP_ROOT)."""

from __future__ import annotations

import json
import pathlib
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from hygge_core.memory import MIN_UNIT_BYTES, RunBudget, units_in_flight
from hygge_core.sizing import CGROUP_ROOT_ENV, detect
from hygge_core.testing import run_hygge_measured
from tests.conftest import run_cli

MB = 1 << 20


def orders(rows: int, seed: int = 7) -> pa.Table:
    """The benchmark's shape: 9 columns, a string column of 20-40 characters."""
    rng = np.random.default_rng(seed)
    comments = pa.array([f"c{i:05d}-" + "x" * (14 + i % 27) for i in range(2000)])
    categories = pa.array([f"category_{i:02d}" for i in range(50)])
    return pa.table(
        {
            "id": pa.array(np.arange(rows, dtype=np.int64)),
            "customer_id": pa.array(rng.integers(0, 10**6, rows)),
            "amount": pa.array(np.round(rng.random(rows) * 1000, 2)),
            "quantity": pa.array(rng.integers(0, 1000, rows, dtype=np.int32)),
            "is_active": pa.array(rng.random(rows) < 0.5),
            "category": categories.take(pa.array(rng.integers(0, 50, rows))),
            "comment": comments.take(pa.array(rng.integers(0, 2000, rows))),
            "created_at": pa.array(rng.integers(1.2e15, 1.7e15, rows).astype("datetime64[us]")),
            "event_date": pa.array(rng.integers(0, 20_000, rows, dtype=np.int32)).cast(pa.date32()),
        }
    )


def fake_cgroup(root: pathlib.Path, *, memory: str, cpu: str) -> pathlib.Path:
    """A cgroup v2 directory as a container would show it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpu memory\n")
    (root / "memory.max").write_text(memory + "\n")
    (root / "cpu.max").write_text(cpu + "\n")
    return root


# --- sizing ---------------------------------------------------------------------------


def test_sizing_reads_cgroup_v2(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = fake_cgroup(tmp_path / "cg", memory=str(1 << 30), cpu="150000 100000")
    monkeypatch.setenv(CGROUP_ROOT_ENV, str(root))
    limits = detect()
    assert limits.memory == 1 << 30
    assert limits.memory_source == "cgroup v2 memory.max (1.0 GiB)"
    # 1.5 CPUs of quota round up to 2, unless the affinity mask allows fewer.
    assert limits.cores == min(2, len(__import__("os").sched_getaffinity(0)))
    assert limits.default_budget() == 256 * MB  # a quarter of 1 GiB


def test_sizing_reads_cgroup_v1(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "v1"
    (root / "memory").mkdir(parents=True)
    (root / "cpu").mkdir()
    (root / "memory" / "memory.limit_in_bytes").write_text(str(400 * MB))
    (root / "cpu" / "cpu.cfs_quota_us").write_text("100000")
    (root / "cpu" / "cpu.cfs_period_us").write_text("100000")
    monkeypatch.setenv(CGROUP_ROOT_ENV, str(root))
    limits = detect()
    assert (limits.memory, limits.cores) == (400 * MB, 1)
    assert limits.cores_source == "cgroup v1 cpu.cfs_quota_us 100000/100000"
    assert limits.default_budget() == 100 * MB


def test_sizing_without_limits_is_the_machine(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = fake_cgroup(tmp_path / "cg", memory="max", cpu="max 100000")
    monkeypatch.setenv(CGROUP_ROOT_ENV, str(root))
    limits = detect()
    assert limits.memory_source.startswith("the machine's memory")
    assert limits.cores_source.startswith("CPU affinity")
    assert limits.default_budget() == min(512 * MB, max(64 * MB, limits.memory // 4))


def test_run_follows_the_emulated_container(tmp_path: pathlib.Path) -> None:
    root = fake_cgroup(tmp_path / "cg", memory=str(256 * MB), cpu="100000 100000")
    pq.write_table(orders(40_000), tmp_path / "in.parquet", row_group_size=10_000)
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        f"flows:\n  f:\n    home: {{type: parquet, path: {tmp_path}/in.parquet,"
        f" unit_rows: 10000}}\n    store: {tmp_path}/out/\n"
    )
    env = {CGROUP_ROOT_ENV: str(root)}
    plan = run_cli("run", str(flows), "--dry-run", env=env)
    assert plan.code == 0, plan.text
    assert (
        "memory: 64.0 MiB for the run (default: 1/4 of the memory limit, at most 512.0 MiB; "
        "limit: cgroup v2 memory.max (256.0 MiB))" in plan.out
    )
    assert "cores: 1 (cgroup v2 cpu.max 100000 100000)" in plan.out
    # One core: one unit in flight of the four the plan has, with the whole budget.
    assert "memory 64.0 MiB, 1 unit(s) in flight of 64.0 MiB each" in plan.out

    done = run_cli("run", str(flows), "--log-format", "json", env=env)
    assert done.code == 0, done.text
    events = [json.loads(line) for line in done.err.splitlines() if line.startswith("{")]
    started = next(e for e in events if e["event"] == "flow_started")
    assert (started["run_budget"], started["cores"]) == (64 * MB, 1)
    assert started["sizing_why"] == (
        "budget: default: 1/4 of the memory limit, at most 512.0 MiB; limit: cgroup v2 "
        "memory.max (256.0 MiB); cores: cgroup v2 cpu.max 100000 100000"
    )
    assert (started["budget"], started["units_in_flight"]) == (64 * MB, 1)
    assert started["budget_why"] == "the run's budget; 1 unit(s) in flight: parallelism 1"
    finished = next(e for e in events if e["event"] == "flow_finished")
    assert 0 < finished["peak_bytes_held"] <= 64 * MB
    assert finished["peak_rss"] > finished["peak_bytes_held"]
    assert pq.read_table(tmp_path / "out").num_rows == 40_000


# --- admission and sharing ------------------------------------------------------------


def test_units_in_flight_are_admitted_by_the_budget() -> None:
    assert units_in_flight(128 * MB, 16, 100) == (
        128 * MB // MIN_UNIT_BYTES,
        f"parallelism 16 capped by the budget ({MIN_UNIT_BYTES >> 20} MiB a unit)",
    )
    assert units_in_flight(1024 * MB, 16, 100) == (16, "parallelism 16")
    assert units_in_flight(1024 * MB, 16, 3) == (3, "3 work unit(s) in the plan")
    assert units_in_flight(8 * MB, 16, 100)[0] == 1  # a tiny budget still moves


def test_run_budget_is_shared_by_concurrent_flows() -> None:
    pool = RunBudget(100 * MB)
    first = pool.take(64 * MB)
    second = pool.take(64 * MB)  # only 36 MB left: the second flow runs on what is free
    assert (first, second) == (64 * MB, 36 * MB)
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(pool.take(64 * MB)))
    waiter.start()
    time.sleep(0.2)
    assert got == []  # nothing free: the third flow waits rather than overrun the budget
    pool.give(first)
    waiter.join(5)
    assert got == [64 * MB]
    pool.give(second)
    pool.give(got[0])
    assert pool.take(500 * MB) == 100 * MB  # never more than the whole run's budget
    stop = threading.Event()
    stopped: list[int] = []
    waiter = threading.Thread(target=lambda: stopped.append(pool.take(64 * MB, stop)))
    waiter.start()
    stop.set()  # Ctrl-C or --fail-fast while a flow waits for memory: it gives up
    waiter.join(5)
    assert stopped == [0]


def test_flow_memory_above_the_run_budget_is_capped(tmp_path: pathlib.Path) -> None:
    pq.write_table(orders(1000), tmp_path / "in.parquet")
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        "memory: 96MB\n"
        f"flows:\n  f:\n    home: {tmp_path}/in.parquet\n    store: {tmp_path}/out/\n"
        "    memory: 1GB\n"
    )
    plan = run_cli("run", str(flows), "--dry-run")
    assert plan.code == 0, plan.text
    assert f"memory: 96.0 MiB for the run (memory: 96.0 MiB at the top of {flows})" in plan.out
    assert "memory 96.0 MiB, 1 unit(s) in flight of 96.0 MiB each (memory: 1GB capped" in plan.out
    smaller = run_cli("run", str(flows), "--dry-run", "--memory", "64MB")
    assert "memory: 64.0 MiB for the run (--memory 64.0 MiB)" in smaller.out


def test_bad_budget_is_a_config_error(tmp_path: pathlib.Path) -> None:
    flows = tmp_path / "flows.yaml"
    flows.write_text("flows:\n  f:\n    home: in.parquet\n    store: out/\n    memory: lots\n")
    result = run_cli("validate", str(flows))
    assert result.code == 2
    assert (
        f"{flows}:5:13: flow 'f' → field 'memory': 'lots' is not a positive size; write bytes "
        "or a number with KB, MB or GB, e.g. 256MB" in result.err
    )
    bad = run_cli("run", str(flows), "--memory", "lots")
    assert bad.code == 2
    assert (
        "error: --memory: 'lots' is not a positive size; write bytes or a number with KB, MB "
        "or GB, e.g. 256MB" in bad.err
    )


# --- the bound, measured --------------------------------------------------------------

ROWS = 2_000_000
BUDGET = 128 * MB
SLACK = 150 * MB


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, pa.Table]:
    folder = tmp_path_factory.mktemp("budget")
    table = orders(ROWS)
    # 16 row groups in 8 units (2 row groups each), 16 CSV files: more units than the budget
    # admits at once.
    pq.write_table(table, folder / "in.parquet", row_group_size=ROWS // 16)
    (folder / "csv").mkdir()
    step = ROWS // 16
    for i in range(16):
        pacsv.write_csv(table.slice(i * step, step), folder / "csv" / f"part-{i:02d}.csv")
    pq.write_table(table.slice(0, 1), folder / "one.parquet")
    return folder, table


def empty_run_rss(folder: pathlib.Path, tmp: pathlib.Path) -> int:
    flows = tmp / "one.yaml"
    flows.write_text(f"flows:\n  one:\n    home: {folder}/one.parquet\n    store: {tmp}/one/\n")
    run = run_hygge_measured("run", str(flows))
    assert run.returncode == 0, run.stderr
    return run.peak_rss


@pytest.mark.slow
@pytest.mark.parametrize("source", ["parquet", "csv"])
def test_parallelism_16_stays_within_128mb(
    big: tuple[pathlib.Path, pa.Table], tmp_path: pathlib.Path, source: str
) -> None:
    folder, table = big
    home = (
        f"{{type: parquet, path: {folder}/in.parquet, unit_rows: {ROWS // 8}}}"
        if source == "parquet"
        else f"{{type: csv, path: {folder}/csv}}"
    )
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        f"flows:\n  big:\n    home: {home}\n    store: {tmp_path}/out/\n"
        "    parallelism: 16\n    memory: 128MB\n"
    )
    base = empty_run_rss(folder, tmp_path)
    run = run_hygge_measured("run", str(flows), "--log-format", "json")
    assert run.returncode == 0, run.stderr
    landed = pq.read_table(tmp_path / "out").sort_by("id")
    assert landed.num_rows == ROWS
    assert landed.select(["id", "amount", "comment"]).equals(
        table.select(["id", "amount", "comment"])
    )
    events = [json.loads(x) for x in run.stderr.splitlines() if x.startswith("{")]
    started = next(e for e in events if e["event"] == "flow_started")
    assert started["units_in_flight"] == BUDGET // MIN_UNIT_BYTES
    assert started["budget_why"] == (
        "memory: 128MB; 4 unit(s) in flight: parallelism 16 capped by the budget (32 MiB a unit)"
    )
    finished = next(e for e in events if e["event"] == "flow_finished")
    assert finished["peak_bytes_held"] <= BUDGET
    bound = BUDGET + base + SLACK
    assert run.peak_rss <= bound, (
        f"peak RSS {run.peak_rss / MB:.0f} MiB > {bound / MB:.0f} MiB "
        f"(empty run {base / MB:.0f} MiB)"
    )
    # The writers kept their share by writing smaller row groups, and said so: each early
    # flush is one row group more than one per unit.
    flushed = finished["flushed_early"]
    files = list((tmp_path / "out").glob("*.parquet"))
    groups = sum(pq.ParquetFile(p).num_row_groups for p in files)
    assert groups == (8 if source == "parquet" else 16) + flushed
    if source == "parquet":  # a 250,000-row unit (22 MB) outgrows its writer's 19 MB
        assert flushed > 0
        note = next(e for e in events if e["event"] == "note" and "written before" in e["message"])
        assert note["message"].startswith(f"{flushed} row group(s) or buffer(s) written before")
