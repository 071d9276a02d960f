"""The kill loop: SIGKILL `hygge run` at random instants of a paginated incremental load
(the first full load, then a load of added and updated records) and rerun; the store must
then hold exactly the server's records, once each.

Everyday: HYGGE_KILL_POINTS (default 2) points; the `stress` test (scripts/stress.sh) runs
at least 50.
"""

from __future__ import annotations

import pathlib
import random
import sqlite3
import time
from contextlib import closing
from typing import Any

import pytest
import yaml
from fakeapi import FakeApi, Faults

from hygge_core.testing import Kill, kill_points, run_hygge


def write_flows(api: FakeApi, folder: pathlib.Path) -> pathlib.Path:
    home = {
        "type": "http",
        "url": f"{api.url}/cursor/items",
        "paginate": {"type": "cursor", "path": "meta.next_cursor"},
        "records": "data",
        "params": {"since": "{cursor}", "limit": 50},
        "columns": {"id": "int64", "name": "string", "updated_at": "timestamp_tz"},
        "incremental": {"cursor": "updated_at"},
    }
    store = {
        "type": "sql",
        "url": f"sqlite:///{folder / 'store.db'}",
        "table": "items",
        "mode": "merge",
        "keys": ["id"],
    }
    path = folder / "flows.yaml"
    path.write_text(yaml.safe_dump({"flows": {"f": {"home": home, "store": store}}}))
    return path


def landed(folder: pathlib.Path) -> list[tuple[Any, ...]]:
    db = folder / "store.db"
    if not db.exists():
        return []
    # Closed at once: an open reader may stand in the way of the next run's commit.
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT id, name FROM items ORDER BY id").fetchall()


def run(path: pathlib.Path, kill_after: float | None = None) -> Any:
    kill = Kill(delay=kill_after) if kill_after is not None else None
    return run_hygge("run", str(path), kill=kill, timeout=300)


def converge(api: FakeApi, tmp_path: pathlib.Path, points: int, seed: str) -> None:
    rng = random.Random(seed)
    api.faults = Faults(slow_every=3, slow_seconds=0.02)  # runs long enough to be hit
    api.generate("items", 1_500)
    clean = tmp_path / "clean"
    clean.mkdir()
    started = time.monotonic()
    assert run(write_flows(api, clean)).returncode == 0
    seconds = time.monotonic() - started
    kills = 0
    for k in range(points):
        folder = tmp_path / f"p{k}"
        folder.mkdir()
        api.generate("items", 1_500)
        path = write_flows(api, folder)
        for step in ("full load", "incremental load"):
            if step == "incremental load":
                api.add("items", 300)
                api.update("items", rng.sample(range(1_500), 40), version=k + 1)
            delay = rng.uniform(0.0, seconds)
            killed = run(path, kill_after=delay)
            kills += killed.returncode == -9
            rerun = run(path)
            where = f"point {k}, {step}: SIGKILL after {delay:.3f}s (exit {killed.returncode})"
            assert rerun.returncode == 0, f"{where}: rerun failed\n{rerun.stderr}"
            want = [(r["id"], r["name"]) for r in api.datasets["items"]]
            got = landed(folder)
            assert got == want, f"{where}: {len(got)} rows landed, {len(want)} served"
    assert kills >= points // 2, f"only {kills} of {2 * points} runs were killed before the end"


def test_kill_anywhere_then_rerun_converges(api: FakeApi, tmp_path: pathlib.Path) -> None:
    converge(api, tmp_path, kill_points(default=2), "http-everyday")


@pytest.mark.stress
def test_kill_loop_stress(api: FakeApi, tmp_path: pathlib.Path) -> None:
    converge(api, tmp_path, max(50, kill_points(default=50)), "http-stress")
