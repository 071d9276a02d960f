"""The Delta kill loop: SIGKILL `hygge run` at random instants, rerun, and check the table.

The everyday suite runs HYGGE_KILL_POINTS (default 2) kill points per mode; scripts/stress.sh
runs 50. Each point: a fresh table, a run killed after a random fraction of a clean run's
duration, then a clean rerun; the table must then equal the source exactly, the log must
hold at most one data-carrying hygge commit, and no file, marker or staging of the flow
may be left that the log does not reference.
"""

from __future__ import annotations

import json
import pathlib
import random
import subprocess
import time
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from deltalake import DeltaTable

from hygge_core.testing import Kill, kill_points, run_hygge

POINTS = kill_points(default=2)
ROWS = 60_000


def source() -> pa.Table:
    ids = pa.array(range(ROWS), pa.int64())
    return pa.table(
        {
            "id": ids,
            "p": [f"p{i % 4}" for i in range(ROWS)],
            "v": pa.array(range(ROWS)).cast(pa.float64()),
        }
    )


def flows(tmp: pathlib.Path, lake: pathlib.Path, mode: str) -> pathlib.Path:
    src = tmp / "src.parquet"
    if not src.exists():
        pq.write_table(source(), src, row_group_size=ROWS // 6)
    home: dict = {"type": "parquet", "path": str(src), "unit_rows": ROWS // 6}
    store: dict = {"type": "delta", "path": str(lake), "mode": mode, "partition_by": ["p"]}
    if mode == "append":
        home["incremental"] = {"cursor": "id"}  # append is exactly-once with a cursor
    if mode == "merge":
        store["keys"] = ["id"]
    path = tmp / f"flows-{mode}.yaml"
    path.write_text(yaml.safe_dump({"flows": {"f": {"home": home, "store": store}}}))
    return path


def hygge(path: pathlib.Path, kill_after: float | None = None) -> subprocess.CompletedProcess:
    """`hygge run PATH`, SIGKILLed `kill_after` seconds after it started (when given)."""
    kill = Kill(delay=kill_after) if kill_after is not None else None
    return run_hygge("run", str(path), kill=kill, timeout=300)


@pytest.mark.parametrize("mode", ["append", "replace", "merge", "replace_partitions"])
def test_kill_anywhere_then_rerun_converges(tmp_path: pathlib.Path, mode: str) -> None:
    rng = random.Random(f"delta-{mode}")
    clean = tmp_path / "clean"
    started = time.monotonic()
    assert hygge(flows(tmp_path, clean, mode)).returncode == 0
    seconds = time.monotonic() - started
    expected = source().sort_by("id")
    for k in range(POINTS):
        lake = tmp_path / f"lake{k}"
        path = flows(tmp_path, lake, mode)
        delay = rng.uniform(0.0, seconds)
        killed = hygge(path, kill_after=delay)
        rerun = hygge(path)
        where = f"mode {mode}, SIGKILL after {delay:.3f}s (killed run exit {killed.returncode})"
        assert rerun.returncode == 0, f"{where}: rerun failed\n{rerun.stdout}\n{rerun.stderr}"
        table = DeltaTable(str(lake))
        got = table.to_pyarrow_table().select(expected.column_names).sort_by("id")
        assert got.equals(expected), f"{where}: {got.num_rows} rows instead of {ROWS}"
        # Every data file of the flow was committed by some version (a replace removes files
        # from the current version, but time travel still reads them until VACUUM).
        committed = {str((lake / p).resolve()) for p in _ever_added(lake)}
        files = {str(p.resolve()) for p in lake.rglob("hygge-*.parquet")}
        assert files <= committed, f"{where}: orphaned files {sorted(files - committed)[:3]}"
        assert {str((lake / p).resolve()) for p in _current(table)} <= committed | {
            str(p.resolve()) for p in lake.rglob("part-*.parquet")
        }
        assert not list(lake.glob("_hygge/delta/*/runs/*.json")), f"{where}: run marker left"
        assert not list(lake.glob("_hygge_staging/**/*.parquet")), f"{where}: staging left"


def _ever_added(lake: pathlib.Path) -> set[str]:
    """Every data file any commit of the log added, read from the log's JSON entries."""
    added = set()
    for entry in sorted((lake / "_delta_log").glob("*.json")):
        for line in entry.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                added.add(unquote(action["add"]["path"]))
    return added


def _current(table: DeltaTable) -> list[str]:
    return [unquote(p) for p in pa.table(table.get_add_actions()).column("path").to_pylist()]
