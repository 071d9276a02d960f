"""Parquet → Parquet survives `kill -9` at any point: the re-run converges exactly.

The everyday suite runs HYGGE_KILL_POINTS (default 4) kill points per mode; scripts/stress.sh
runs 50 per mode.
"""

from __future__ import annotations

import json
import pathlib
import random
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import sample_table, tables_equal
from tests.exactly_once import killloop

MODES = ("append", "replace", "incremental")


def make_home(root: pathlib.Path) -> pa.Table:
    """Six files of four row groups: 24 work units, many batches and moves."""
    table = sample_table(24_000, seed=9, types={"int64", "string", "timestamp_tz", "decimal"})
    (root / "home").mkdir()
    for i in range(6):
        pq.write_table(
            table.slice(i * 4000, 4000), root / "home" / f"f{i}.parquet", row_group_size=1000
        )
    return table


def flows_file(root: pathlib.Path, mode: str) -> str:
    incremental = "\n      incremental: {cursor: id}" if mode == "incremental" else ""
    store_mode = "append" if mode == "incremental" else mode
    path = root / "flows.yaml"
    path.write_text(f"""
flows:
  t:
    home:
      type: parquet
      path: {root}/home
      unit_rows: 2000
      batch_rows: 500{incremental}
    store: {{type: parquet, path: {root}/lake, mode: {store_mode}, row_group_rows: 700}}
""")
    return str(path)


def committed_runs(root: pathlib.Path) -> list[dict]:
    state = root / "lake" / "_hygge" / "state" / "t.json"
    return json.loads(state.read_text())["runs"] if state.exists() else []


def check_converged(root: pathlib.Path, mode: str, home: pa.Table, what: str) -> None:
    runs = committed_runs(root)
    landed = pq.read_table(root / "lake")
    if mode == "append":
        # Each committed run appended the whole home exactly once; the killed run either
        # committed (the state records it) or left nothing visible.
        assert len(runs) in (1, 2), what
        assert all(r["rows"] == home.num_rows for r in runs), what
        expected = pa.concat_tables([home] * len(runs))
        assert landed.num_rows == expected.num_rows, f"{what}: {landed.num_rows} rows"
        counts = pa.compute.value_counts(landed.column("id"))
        assert set(counts.field("counts").to_pylist()) == {len(runs)}, what
    else:
        assert tables_equal(landed, home), f"{what}: {landed.num_rows} rows landed"
    leftovers = [
        p
        for p in (root / "lake").rglob("*")
        if p.is_file() and ("_hygge_staging" in p.parts or "commits" in p.parts)
    ]
    assert not leftovers, f"{what}: left behind {leftovers[:3]}"


@pytest.mark.parametrize("mode", MODES)
def test_kill_anywhere_then_rerun_converges(tmp_path: pathlib.Path, mode: str) -> None:
    rng = random.Random(f"files-{mode}")
    for i in range(killloop.kill_points()):
        root = tmp_path / f"k{i}"
        root.mkdir()
        home = make_home(root)
        flows = flows_file(root, mode)
        if i == 0:
            clean = killloop.timed_clean_run(flows)
            (root / "lake").rename(root / "lake-clean")
        kill = killloop.draw(rng, clean)
        what = f"{mode} kill {i}: {kill.describe()}"
        killloop.run(flows, kill=kill)
        rerun = killloop.run(flows)
        assert rerun.returncode == 0, f"{what}\n{rerun.stdout}{rerun.stderr}"
        check_converged(root, mode, home, what)


def test_rerun_adopts_units_a_killed_run_staged(tmp_path: pathlib.Path) -> None:
    home = make_home(tmp_path)
    flows = flows_file(tmp_path, "replace")
    killed = killloop.run(flows, kill=killloop.Kill(point="unit.staged", nth=5))
    assert killed.returncode == -9
    rerun = killloop.run(flows)
    assert rerun.returncode == 0, rerun.stderr
    # Killed as the 5th unit reported itself staged: units staging beside it on other
    # threads may have finished staging too, so at least 5 are adopted, 2,000 rows each.
    resumed = re.search(
        r"resumed (\d+) of 12 work unit\(s\) \(([\d,]+) rows\) staged by an interrupted run",
        rerun.stderr,
    )
    assert resumed, rerun.stderr
    units, rows = int(resumed[1]), int(resumed[2].replace(",", ""))
    assert 5 <= units < 12 and rows == units * 2000, rerun.stderr
    check_converged(tmp_path, "replace", home, "adopt")


def test_a_changed_home_is_not_adopted(tmp_path: pathlib.Path) -> None:
    home = make_home(tmp_path)
    flows = flows_file(tmp_path, "incremental")
    killloop.run(flows, kill=killloop.Kill(point="commit.start"))
    # The home grows before the re-run: the window is the same, but a new file appears.
    extra = home.slice(0, 10).set_column(0, "id", pa.array(range(24_000, 24_010), pa.int64()))
    pq.write_table(extra, tmp_path / "home" / "f9.parquet")
    rerun = killloop.run(flows)
    assert rerun.returncode == 0, rerun.stderr
    assert tables_equal(pq.read_table(tmp_path / "lake"), pa.concat_tables([home, extra]))
