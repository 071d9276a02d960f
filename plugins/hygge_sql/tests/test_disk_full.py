"""A SQLite store on a full disk: the error says what to free, and once there is room the
next run removes what the failed run left (staging tables, the grown WAL) before loading.

The disk is a 2 MB tmpfs (mounting needs root; the test is skipped elsewhere), grown
with a remount to play the user who freed space.
"""

from __future__ import annotations

import contextlib
import pathlib
import sqlite3
import subprocess
from collections.abc import Iterator

import pyarrow.parquet as pq
import pytest

from hygge_core.testing import FlowHarness, sample_table, tables_equal


@pytest.fixture
def small_disk(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def tables(db: pathlib.Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return sorted(
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        )


def test_disk_full_says_what_to_free_and_the_next_run_cleans_up(
    tmp_path: pathlib.Path, small_disk: pathlib.Path
) -> None:
    harness = FlowHarness(tmp_path)
    db = small_disk / "db.sqlite"
    store = {"type": "sql", "url": f"sqlite:///{db}", "table": "t", "mode": "replace"}
    big = sample_table(60_000, seed=1, types={"int64", "string"}, nulls=0.0)
    (failed,) = harness.run({"f": {"home": harness.parquet_source(big, "big"), "store": store}})
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.startswith("table 't': database or disk is full. hint: the disk ")
    assert f"holding {db} is full (0.0 MB free): free at least as much space there" in (
        failed.error
    )
    assert "the next run first drops what this run staged" in failed.error

    # The user frees space; the next run drops the failed run's staging, shrinks the WAL,
    # and lands exactly its own rows.
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    small = sample_table(100, seed=2, types={"int64", "string"}, nulls=0.0)
    (done,) = harness.run_ok(
        {"f": {"home": harness.parquet_source(small, "small"), "store": store}}
    )
    assert "dropped staging table" in " ".join(done.recovered)
    assert tables(db) == ["_hygge_state", "t"]
    wal = pathlib.Path(f"{db}-wal")
    assert not wal.exists() or wal.stat().st_size < 64 * 1024
    harness.run_ok(
        {
            "back": {
                "home": {"type": "sql", "url": f"sqlite:///{db}", "table": "t"},
                "store": harness.parquet_sink("back"),
            }
        }
    )
    assert tables_equal(pq.read_table(tmp_path / "back"), small)
