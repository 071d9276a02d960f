"""`kill -9` at any point with PostgreSQL on either side: the re-run converges exactly.

Combinations: Parquet → PostgreSQL, PostgreSQL → Parquet, PostgreSQL → PostgreSQL, in
append, replace, merge (SQL stores) and incremental modes. Each kill point gets a fresh
PostgreSQL schema. HYGGE_KILL_POINTS per combination (everyday 2; scripts/stress.sh: 50).
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import secrets
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import sample_table, tables_equal
from tests.conftest import run_cli
from tests.exactly_once import killloop

sa = pytest.importorskip("sqlalchemy")
pytest.importorskip("hygge_sql")

COMBOS = [
    ("parquet", "pg", "append"),
    ("parquet", "pg", "replace"),
    ("parquet", "pg", "merge"),
    ("parquet", "pg", "incremental"),
    ("pg", "parquet", "append"),
    ("pg", "parquet", "replace"),
    ("pg", "parquet", "incremental"),
    ("pg", "pg", "append"),
    ("pg", "pg", "replace"),
    ("pg", "pg", "merge"),
    ("pg", "pg", "incremental"),
]
TYPES = {"int64", "string", "timestamp_tz", "decimal", "float64", "bool"}


@pytest.fixture
def pg_url() -> str:
    url = os.environ.get("HYGGE_TEST_PG_URL")
    if not url:
        if os.environ.get("HYGGE_REQUIRE_SERVICES") == "1":
            pytest.fail("HYGGE_TEST_PG_URL is not set: start scripts/services.py")
        pytest.skip("PostgreSQL not running (HYGGE_TEST_PG_URL)")
    return url


@pytest.fixture
def schemas(pg_url: str) -> Iterator[list[str]]:
    """Fresh schemas handed out per kill point; all dropped at the end."""
    made: list[str] = []
    yield made
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        for name in made:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    engine.dispose()


def new_schema(pg_url: str, made: list[str]) -> str:
    name = f"hygge_k_{secrets.token_hex(4)}"
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    engine.dispose()
    made.append(name)
    return name


def read_pg(url: str, schema: str, table: str) -> pa.Table:
    """What a reader of the table sees, through hygge's SQL home."""
    from hygge_sql.home import SqlHome, SqlHomeConfig

    from hygge_core.context import FlowContext
    from hygge_core.storage import StorageResolver

    config = SqlHomeConfig.model_validate({"type": "sql", "url": url, "table": f"{schema}.{table}"})
    home = SqlHome(config, FlowContext(flow="check", run_id="check", storage=StorageResolver({})))
    try:
        batches = [b for u in home.plan(None) for b in home.read(u)]
        return pa.Table.from_batches(batches, schema=home.schema())
    finally:
        home.close()


def write_flows(root: pathlib.Path, url: str, schema: str, src: str, dst: str, mode: str) -> str:
    inc = "\n      incremental: {cursor: id}" if mode == "incremental" else ""
    store_mode = "append" if mode == "incremental" else mode
    keys = ", keys: [id]" if mode == "merge" else ""
    if src == "parquet":
        home = f"""
      type: parquet
      path: {root}/home
      unit_rows: 2000
      batch_rows: 500{inc}"""
    else:
        home = f"""
      type: sql
      url: {url}
      table: {schema}.home
      split: {{column: id, units: 12}}
      batch_rows: 500{inc}"""
    if dst == "parquet":
        store = f"{{type: parquet, path: {root}/lake, mode: {store_mode}{keys}}}"
    else:
        store = f"{{type: sql, url: {url}, table: {schema}.target, mode: {store_mode}{keys}}}"
    path = root / "flows.yaml"
    path.write_text(f"flows:\n  t:\n    home:{home}\n    store: {store}\n")
    return str(path)


def prepare_home(root: pathlib.Path, url: str, schema: str, src: str) -> pa.Table:
    table = sample_table(24_000, seed=21, types=TYPES)
    (root / "home").mkdir()
    for i in range(6):
        pq.write_table(
            table.slice(i * 4000, 4000), root / "home" / f"f{i}.parquet", row_group_size=1000
        )
    if src == "pg":
        load = root / "load.yaml"
        load.write_text(
            f"flows:\n  load:\n    home: {root}/home\n"
            f"    store: {{type: sql, url: {url}, table: {schema}.home}}\n"
        )
        done = run_cli("run", str(load))
        assert done.code == 0, done.text
    return table


def landed(root: pathlib.Path, url: str, schema: str, dst: str) -> pa.Table:
    if dst == "parquet":
        return pq.read_table(root / "lake")
    return read_pg(url, schema, "target")


def committed_runs(flows: str) -> list[dict]:
    shown = run_cli("state", "show", flows, "--json")
    assert shown.code == 0, shown.text
    state = json.loads(shown.out)["t"]
    return state["runs"] if state else []


@pytest.mark.parametrize(("src", "dst", "mode"), COMBOS, ids=[f"{s}-{d}-{m}" for s, d, m in COMBOS])
def test_kill_anywhere_then_rerun_converges(
    tmp_path: pathlib.Path, pg_url: str, schemas: list[str], src: str, dst: str, mode: str
) -> None:
    rng = random.Random(f"sql-{src}-{dst}-{mode}")
    clean = None
    # Everyday: 2 points per combination (each costs database rounds); stress: 50.
    for i in range(killloop.kill_points(default=2)):
        root = tmp_path / f"k{i}"
        root.mkdir()
        schema = new_schema(pg_url, schemas)
        home = prepare_home(root, pg_url, schema, src)
        flows = write_flows(root, pg_url, schema, src, dst, mode)
        if clean is None:
            clean = killloop.timed_clean_run(flows)
            schema = new_schema(pg_url, schemas)
            root = tmp_path / f"k{i}b"
            root.mkdir()
            home = prepare_home(root, pg_url, schema, src)
            flows = write_flows(root, pg_url, schema, src, dst, mode)
        kill = killloop.draw(rng, clean)
        what = f"{src}→{dst} {mode}, kill {i}: {kill.describe()}"
        killloop.run(flows, kill=kill)
        rerun = killloop.run(flows)
        assert rerun.returncode == 0, f"{what}\n{rerun.stdout}{rerun.stderr}"
        got = landed(root, pg_url, schema, dst)
        if mode == "append":
            runs = committed_runs(flows)
            assert len(runs) in (1, 2), what
            assert got.num_rows == home.num_rows * len(runs), f"{what}: {got.num_rows} rows"
            counts = pa.compute.value_counts(got.column("id"))
            assert set(counts.field("counts").to_pylist()) == {len(runs)}, what
        else:
            assert tables_equal(got, home), f"{what}: {got.num_rows} rows landed"
        if dst == "parquet":
            assert not list((root / "lake").glob("_hygge_staging/t/*")), what
        else:
            engine = sa.create_engine(pg_url)
            with engine.connect() as conn:
                tables = (
                    conn.execute(
                        sa.text(
                            "select table_name from information_schema.tables"
                            " where table_schema = :s"
                        ),
                        {"s": schema},
                    )
                    .scalars()
                    .all()
                )
            engine.dispose()
            extra = set(tables) - {"home", "target", "_hygge_state"}
            assert not extra, f"{what}: staging left behind: {extra}"
