"""The hive-partitioned Parquet store killed at any instant, then run again.

Each kill point: a fresh store holding five partitions, a `replace_partitions` run (two of
the five) or an incremental `append` run killed with SIGKILL — at a random instant of a
clean run's duration or at a step of the commit (record written, the n-th file moved,
state written) — then a clean rerun. The store must then equal the expected rows exactly,
the partitions the run did not touch must be byte-identical, and no staging may be left.
A run killed before its commit record must have changed nothing. The everyday suite runs
HYGGE_KILL_POINTS (default 2) random instants per mode; scripts/stress.sh runs 50.
"""

from __future__ import annotations

import hashlib
import pathlib
import random
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import yaml

from hygge_core.testing import Kill, kill_points, run_hygge, tables_equal

POINTS = kill_points(default=2)
ROWS = 20_000
REGIONS = ["r1", "r2", "r3", "r4", "r5"]


def table(regions: list[str], start: int, tag: str) -> pa.Table:
    n = ROWS
    return pa.table(
        {
            "id": pa.array(range(start, start + n), pa.int64()),
            "region": [regions[i % len(regions)] for i in range(n)],
            "note": [tag] * n,
        }
    )


FIRST = table(REGIONS, 0, "old")
SECOND = table(["r2", "r4"], ROWS, "new")


def flows(tmp: pathlib.Path, lake: pathlib.Path, mode: str, data: str) -> pathlib.Path:
    home: dict = {"type": "parquet", "path": str(tmp / f"{data}.parquet"), "unit_rows": ROWS // 4}
    if mode == "append":
        home["incremental"] = {"cursor": "id"}  # append is exactly-once with a cursor
    store = {"type": "parquet", "path": str(lake), "mode": mode, "partition_by": ["region"]}
    store["file_rows"] = ROWS // 20  # several files per partition: many moves to kill in
    path = tmp / f"flows-{lake.name}-{data}.yaml"
    path.write_text(yaml.safe_dump({"flows": {"f": {"home": home, "store": store}}}))
    return path


def read(lake: pathlib.Path) -> pa.Table:
    return ds.dataset(lake, format="parquet", partitioning="hive").to_table()


def hashes(lake: pathlib.Path, regions: list[str]) -> dict[str, str]:
    return {
        str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
        for r in regions
        for p in (lake / f"region={r}").glob("*.parquet")
    }


def expected(mode: str) -> pa.Table:
    if mode == "append":
        return pa.concat_tables([FIRST, SECOND])
    kept = FIRST.filter(pc.invert(pc.is_in(FIRST["region"], pa.array(["r2", "r4"]))))
    return pa.concat_tables([kept, SECOND])


def kills(rng: random.Random, seconds: float) -> list[Kill]:
    chosen = [Kill(point="commit.record"), Kill(point="commit.state")]
    chosen.append(Kill(point="commit.move", nth=rng.randint(1, 8)))
    chosen += [Kill(delay=rng.uniform(0.0, seconds)) for _ in range(POINTS)]
    return chosen


@pytest.mark.parametrize("mode", ["replace_partitions", "append"])
def test_kill_anywhere_then_rerun_converges(tmp_path: pathlib.Path, mode: str) -> None:
    pq.write_table(FIRST, tmp_path / "first.parquet", row_group_size=ROWS // 4)
    pq.write_table(SECOND, tmp_path / "second.parquet", row_group_size=ROWS // 4)
    rng = random.Random(f"hive-{mode}")
    clean = tmp_path / "clean"
    assert run_hygge("run", str(flows(tmp_path, clean, "append", "first"))).returncode == 0
    started = time.monotonic()
    assert run_hygge("run", str(flows(tmp_path, clean, mode, "second"))).returncode == 0
    seconds = time.monotonic() - started
    assert tables_equal(expected(mode), read(clean).select(FIRST.column_names))
    for k, kill in enumerate(kills(rng, seconds)):
        lake = tmp_path / f"lake{k}"
        assert run_hygge("run", str(flows(tmp_path, lake, "append", "first"))).returncode == 0
        untouched = hashes(lake, ["r1", "r3", "r5"])
        path = flows(tmp_path, lake, mode, "second")
        killed = run_hygge("run", str(path), kill=kill, timeout=300)
        where = f"mode {mode}, {kill.describe()} (killed run exit {killed.returncode})"
        if killed.returncode == -9 and not list(lake.glob("_hygge/commits/f/*.json")):
            # Killed before its commit was decided (or after it finished): old or new only.
            got = read(lake).select(FIRST.column_names)
            assert tables_equal(FIRST, got) or tables_equal(expected(mode), got), where
        rerun = run_hygge("run", str(path), timeout=300)
        assert rerun.returncode == 0, f"{where}: rerun failed\n{rerun.stdout}\n{rerun.stderr}"
        got = read(lake).select(FIRST.column_names)
        assert tables_equal(expected(mode), got), f"{where}: {got.num_rows} rows"
        assert hashes(lake, ["r1", "r3", "r5"]) == untouched, f"{where}: untouched changed"
        assert not list(lake.glob("_hygge_staging/**/*.parquet")), f"{where}: staging left"
        assert not list(lake.glob("_hygge/commits/f/*")), f"{where}: commit record left"
