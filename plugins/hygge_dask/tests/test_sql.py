"""A PostgreSQL table split into 16 key ranges, through the Dask executor and the local one:
the same rows land, into Parquet and into a PostgreSQL table, and units ran on both workers.

Needs hygge-sql (with its postgres extra) and `HYGGE_TEST_PG_URL` from scripts/services.py.
"""

from __future__ import annotations

import os
import pathlib
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from hygge_core.testing import FlowHarness, tables_equal

pytestmark = pytest.mark.services

ROWS = 160_000


@pytest.fixture
def pg_table(kit: Any) -> Iterator[tuple[str, str, Any]]:
    """A fresh table of ROWS rows (id, amount, label, at); it and the flows' target tables
    are dropped afterwards."""
    kit.need_module("hygge_sql")
    sqlalchemy = kit.need_module("sqlalchemy")
    (url,) = kit.need_env("HYGGE_TEST_PG_URL")
    engine = sqlalchemy.create_engine(url)
    name = f"dask_src_{uuid.uuid4().hex[:8]}"
    targets = [f"{name}_local", f"{name}_dask"]
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {name} (id bigint PRIMARY KEY, amount double precision, "
            "label text, at timestamptz)"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {name} SELECT g, g * 0.5, 'row-' || g, "
            f"timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second' "
            f"FROM generate_series(0, {ROWS - 1}) AS g"
        )
    try:
        yield url, name, engine
    finally:
        with engine.begin() as conn:
            for table in [name, *targets]:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        engine.dispose()


def flows(url: str, table: str, lake: pathlib.Path, target: str) -> dict[str, Any]:
    home = {"type": "sql", "url": url, "table": table, "split": {"column": "id", "units": 16}}
    return {
        "to_parquet": {"home": home, "store": {"type": "parquet", "path": str(lake)}},
        "to_pg": {"home": home, "store": {"type": "sql", "url": url, "table": target}},
    }


def test_pg_key_ranges_land_exactly_as_with_the_local_executor(
    tmp_path: pathlib.Path,
    pg_table: tuple[str, str, Any],
    scheduler: str,
    client: Any,
    kit: Any,
    unit_log: Any,
) -> None:
    url, table, engine = pg_table
    harness = FlowHarness(tmp_path)
    local = harness.run_ok(flows(url, table, tmp_path / "local", f"{table}_local"))
    remote = harness.run_ok(
        flows(url, table, tmp_path / "dask", f"{table}_dask"),
        executor={"type": "dask", "address": scheduler},
    )
    for a, b in zip(local, remote, strict=True):
        assert a.units == b.units == 16
        assert a.rows == b.rows == ROWS

    got = kit.read_store(tmp_path / "dask")
    assert got.column("id").to_pylist() == list(range(ROWS))
    assert tables_equal(got, kit.read_store(tmp_path / "local"))

    def differing(a: str, b: str) -> int:
        """Rows of `a` not in `b` and of `b` not in `a`, duplicates counted (EXCEPT ALL)."""
        cols = "id, amount, label, at"
        with engine.connect() as conn:
            return int(
                conn.exec_driver_sql(
                    f"SELECT (SELECT count(*) FROM (SELECT {cols} FROM {a} "
                    f"EXCEPT ALL SELECT {cols} FROM {b}) x) + (SELECT count(*) FROM "
                    f"(SELECT {cols} FROM {b} EXCEPT ALL SELECT {cols} FROM {a}) y)"
                ).scalar()
            )

    with engine.connect() as conn:
        count, distinct = conn.exec_driver_sql(
            f"SELECT count(*), count(DISTINCT id) FROM {table}_dask"
        ).one()
    assert (count, distinct) == (ROWS, ROWS)
    assert differing(f"{table}_dask", table) == 0
    assert differing(f"{table}_dask", f"{table}_local") == 0

    placed = kit.placements(unit_log)
    assert sorted(flow for flow, _, _ in placed) == ["to_parquet"] * 16 + ["to_pg"] * 16
    workers = {worker for _, _, worker in placed}
    assert workers == kit.workers(client)
    assert len(workers) == 2


def test_worker_killed_mid_range_pg_to_pg_lands_every_row_once(
    pg_table: tuple[str, str, Any],
    scheduler: str,
    client: Any,
    tmp_path: pathlib.Path,
    kit: Any,
    unit_log: Any,
) -> None:
    """The SQL store's staging tables are named per run and unit: the re-run of a range
    whose worker died replaces the half-loaded staging table instead of adding to it."""
    url, table, engine = pg_table
    target = f"{table}_dask"
    home = {
        "type": "sql",
        "url": url,
        "table": table,
        "batch_rows": 100,  # many small batches: a range lasts long enough to be killed
        "split": {"column": "id", "units": 16},
    }
    flows = {"to_pg": {"home": home, "store": {"type": "sql", "url": url, "table": target}}}
    pids: dict[str, int] = client.run(os.getpid)
    results: list[Any] = []
    run = threading.Thread(
        target=lambda: results.extend(
            FlowHarness(tmp_path).run(flows, executor={"type": "dask", "address": scheduler})
        )
    )
    run.start()
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline:
        if len(kit.placements(unit_log)) >= 3:
            for address, keys in client.processing().items():
                if address in pids and any("-unit-" in str(k) for k in keys):
                    time.sleep(0.05)  # into the range's COPY
                    os.kill(pids[address], signal.SIGKILL)
                    victim = address
                    break
        time.sleep(0.01)
    run.join(timeout=300)
    client.wait_for_workers(2, timeout=60)
    assert victim is not None, "no range was seen running on a worker"
    (result,) = results
    assert result.status == "ok", result.error
    assert result.rows == ROWS
    with engine.connect() as conn:
        count, distinct, low, high = conn.exec_driver_sql(
            f"SELECT count(*), count(DISTINCT id), min(id), max(id) FROM {target}"
        ).one()
        staging = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_tables WHERE starts_with(tablename, '_hygge_stg_')"
        ).scalar()
    assert (count, distinct, low, high) == (ROWS, ROWS, 0, ROWS - 1)
    assert staging == 0
    assert len(kit.placements(unit_log)) == 16
