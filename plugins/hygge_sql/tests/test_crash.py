"""`kill -9` of `hygge run` at any moment leaves the target table exactly as it was; the
rerun converges to the exact result and removes what the killed run staged."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml

HYGGE = str(pathlib.Path(sys.executable).with_name("hygge"))
ROWS = 800_000


def big_source(path: pathlib.Path, rows: int = ROWS) -> pa.Table:
    rng = np.random.default_rng(7)
    table = pa.table(
        {
            "id": pa.array(np.arange(rows, dtype=np.int64)),
            "amount": pa.array(rng.standard_normal(rows)),
            "label": pa.array(np.char.add("row-", np.arange(rows).astype(str)).tolist()),
        }
    )
    pq.write_table(table, path, row_group_size=100_000)
    return table


def write_flows(tmp_path: pathlib.Path, database: Any, source: pathlib.Path, **store: Any) -> str:
    flows = {
        "flows": {
            "load": {
                "home": {"type": "parquet", "path": str(source), "unit_rows": 100_000},
                "store": {
                    "type": "sql",
                    "url": database.url,
                    "table": database.table("t"),
                    **store,
                },
                "parallelism": 2,
            }
        }
    }
    path = tmp_path / "flows.yaml"
    path.write_text(yaml.safe_dump(flows))
    return str(path)


def snapshot(database: Any) -> tuple[int, int, list[str]]:
    """(rows, sum of ids, staging tables) as a reader sees them now."""
    engine = database.engine()
    with engine.connect() as conn:
        rows, ids = conn.execute(
            sa.text(f"SELECT count(*), coalesce(sum(id), 0) FROM {database.table('t')}")
        ).one()
        names = sa.inspect(conn).get_table_names(schema=database.schema)
    engine.dispose()
    return int(rows), int(ids), [n for n in names if n.startswith("_hygge_stg_")]


def old_rows(database: Any) -> None:
    engine = database.engine()
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {database.table('t')} "
                "(id BIGINT, amount DOUBLE PRECISION, label TEXT)"
            )
        )
        conn.execute(sa.text(f"INSERT INTO {database.table('t')} VALUES (-1, 0.5, 'old')"))
    engine.dispose()


def kill_when(proc: subprocess.Popen[str], ready: Callable[[], bool], timeout: float = 120) -> None:
    """SIGKILL `proc` as soon as `ready()` is true; fail if it finished first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _out, err = proc.communicate()
            pytest.fail(f"hygge finished before the kill point (exit {proc.returncode}): {err}")
        if ready():
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.02)
    proc.kill()
    pytest.fail("the kill point was never reached")


def rerun_converges(flows: str, database: Any, table: pa.Table) -> None:
    done = subprocess.run([HYGGE, "run", flows], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "dropped staging table" in done.stderr, "the rerun must clean the killed run's staging"
    rows, ids, staging = snapshot(database)
    assert (rows, ids) == (table.num_rows, sum(range(table.num_rows)))
    assert staging == []


def _staging_has_rows(database: Any) -> Callable[[], bool]:
    engine = database.engine()

    def ready() -> bool:
        with engine.connect() as conn:
            names = [
                n
                for n in sa.inspect(conn).get_table_names(schema=database.schema)
                if n.startswith("_hygge_stg_")
            ]
            return len(names) >= 2
        return False

    return ready


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_kill_during_the_load(
    tmp_path: pathlib.Path, kind: str, request: pytest.FixtureRequest
) -> None:
    database = request.getfixturevalue(f"{'pg' if kind == 'postgres' else 'sqlite'}_database")
    table = big_source(tmp_path / "big.parquet")
    old_rows(database)
    flows = write_flows(tmp_path, database, tmp_path / "big.parquet", mode="replace")
    proc = subprocess.Popen(
        [HYGGE, "run", flows], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    kill_when(proc, _staging_has_rows(database))
    rows, ids, staging = snapshot(database)
    assert (rows, ids) == (1, -1), "the target changed although the run never committed"
    assert staging, "the kill came before any staging table existed"
    rerun_converges(flows, database, table)


@pytest.mark.services
def test_kill_inside_the_commit_transaction(tmp_path: pathlib.Path, pg_database: Any) -> None:
    """Killed while PostgreSQL runs the publishing INSERT: the transaction never commits."""
    database = pg_database
    table = big_source(tmp_path / "big.parquet")
    old_rows(database)
    flows = write_flows(tmp_path, database, tmp_path / "big.parquet", mode="replace")
    engine = database.engine()

    def publishing() -> bool:
        with engine.connect() as conn:
            return bool(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                        "AND query LIKE 'INSERT INTO ' || :t || '%'"
                    ),
                    {"t": f"{database.schema}.t"},
                ).scalar()
            )

    proc = subprocess.Popen(
        [HYGGE, "run", flows], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    kill_when(proc, publishing)
    engine.dispose()
    rows, ids, _ = snapshot(database)
    assert (rows, ids) == (1, -1), "a reader saw a half-published replace"
    rerun_converges(flows, database, table)


@pytest.mark.parametrize("point", ["batch.staged@3", "unit.staged@2", "commit.start"])
def test_kill_at_fault_points_then_rerun(
    tmp_path: pathlib.Path, sqlite_database: Any, point: str
) -> None:
    """The same through hygge's fault points: killed at an exact step, on SQLite."""
    table = big_source(tmp_path / "big.parquet", rows=300_000)
    old_rows(sqlite_database)
    flows = write_flows(tmp_path, sqlite_database, tmp_path / "big.parquet", mode="replace")
    done = subprocess.run(
        [HYGGE, "run", flows],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HYGGE_FAULTS": f"{point}=kill"},
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert snapshot(sqlite_database)[:2] == (1, -1)
    rerun_converges(flows, sqlite_database, table)
