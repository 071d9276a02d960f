"""Automatic splits: a big table read through ADBC splits on its primary key by itself.

HYGGE_SQL_SPLIT_ROWS=100 stands in for the default of 1,000,000 rows per unit: tables of
200 rows and more split, into units of about 100 rows.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import re
import subprocess
import sys
from typing import Any

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml
from hygge_sql import home as home_module
from hygge_sql.home import SqlHome, SqlHomeConfig, auto_units

from hygge_core.context import FlowContext
from hygge_core.storage import StorageResolver
from hygge_core.testing import FlowHarness
from hygge_core.units import Window

T0 = dt.datetime(2024, 1, 1)
real_server_is_local = home_module.server_is_local
HYGGE = str(pathlib.Path(sys.executable).with_name("hygge"))


@pytest.fixture(autouse=True)
def small_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYGGE_SQL_SPLIT_ROWS", "100")
    # Unit counts are rounded to a multiple of the cores: the counts below are for two.
    monkeypatch.setattr(home_module.os, "cpu_count", lambda: 2)
    # The test servers run on this machine, where two cores give one reader and no split
    # (test_a_local_server_splits_for_half_the_cores): these tests are about splitting.
    monkeypatch.setattr(home_module, "server_is_local", lambda url: False)


def events_table(database: Any, key: str = "id") -> sa.Table:
    """`ev (id, at, note)`; `key` is its primary key ("" for none, "id,at" for two)."""
    keys = set(key.split(",")) if key else set()
    return sa.Table(
        "ev",
        sa.MetaData(),
        sa.Column("id", sa.BigInteger(), primary_key="id" in keys, autoincrement=False),
        sa.Column("at", sa.DateTime(), primary_key="at" in keys),
        sa.Column("note", sa.Text()),
        schema=database.schema,
    )


def create(database: Any, ids: list[int], key: str = "id", start: int = 0) -> None:
    """Create `ev` (unless it exists) and insert a row per id; `at` grows with position."""
    table = events_table(database, key)
    engine = database.engine()
    with engine.begin() as conn:
        table.create(conn, checkfirst=True)
        rows = [
            {"id": i, "at": T0 + dt.timedelta(seconds=start + n), "note": f"n{i}"}
            for n, i in enumerate(ids)
        ]
        if rows:
            conn.execute(table.insert(), rows)
    engine.dispose()


def flow(database: Any, lake: pathlib.Path, **home: Any) -> dict[str, Any]:
    return {
        "f": {
            "home": {"type": "sql", "url": database.url, "table": database.table("ev"), **home},
            "store": {"type": "parquet", "path": str(lake), "mode": "append"},
        }
    }


def make_home(database: Any, **options: Any) -> SqlHome:
    config = SqlHomeConfig.model_validate(
        {"type": "sql", "url": database.url, "table": database.table("ev"), **options}
    )
    return SqlHome(config, FlowContext(flow="f", run_id="r", storage=StorageResolver({})))


def files(lake: pathlib.Path) -> list[pathlib.Path]:
    return sorted(lake.glob("*.parquet"))


def landed_ids(lake: pathlib.Path) -> list[int]:
    return sorted(pq.read_table(lake, columns=["id"])["id"].to_pylist())


def test_a_big_table_splits_on_its_primary_key_and_lands_every_row_once(
    tmp_path: pathlib.Path, database: Any
) -> None:
    create(database, list(range(1000)))
    lake = tmp_path / "lake"
    (result,) = FlowHarness(tmp_path).run_ok(flow(database, lake))
    # Only ADBC reads release the GIL: other drivers read on one core, split or not.
    splits = database.adbc and database.kind != "mariadb"
    assert result.units == (10 if splits else 1)
    assert len(files(lake)) == result.units
    assert landed_ids(lake) == list(range(1000))
    if splits:
        units = make_home(database).plan(None)
        table = database.table("ev")
        assert [u.id for u in units][:2] == [f"{table}#id[,100)", f"{table}#id[100,200)"]
        assert [u.id for u in units] == [u.id for u in make_home(database).plan(None)]


@pytest.mark.parametrize(
    ("rows", "readers", "units"),
    [
        (5_000_000, 1, 5),
        (5_000_000, 2, 6),  # not 5: the last unit would run alone
        (5_000_000, 8, 8),
        (3_000_000, 8, 3),  # 8 units of 375,000 rows would be under half the size
        (2_000_000, 2, 2),
        (200_000_000, 2, 64),
    ],
)
def test_automatic_unit_counts(rows: int, readers: int, units: int) -> None:
    assert auto_units(rows, 1_000_000, readers) == units


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("postgresql+psycopg://u@127.0.0.1:5432/d", True),
        ("postgresql+psycopg://u@localhost/d", True),
        ("postgresql+psycopg://u@[::1]:5432/d", True),
        ("postgresql+psycopg://u@/d?host=/var/run/postgresql", True),
        ("postgresql+psycopg:///d", True),
        ("postgresql+psycopg://u@db.example.com:5432/d", False),
        ("postgresql+psycopg://u@10.0.0.7/d", False),
        ("sqlite:////tmp/x.db", False),
    ],
)
def test_which_servers_are_local(url: str, local: bool) -> None:
    assert real_server_is_local(sa.make_url(url)) is local


@pytest.mark.parametrize(
    ("cores", "local", "readers"), [(2, True, 1), (4, True, 2), (2, False, 2), (1, False, 1)]
)
def test_parallel_readers(
    monkeypatch: pytest.MonkeyPatch, cores: int, local: bool, readers: int
) -> None:
    monkeypatch.setattr(home_module.os, "cpu_count", lambda: cores)
    assert home_module.parallel_readers(local) == readers


def test_a_local_server_splits_for_half_the_cores(
    monkeypatch: pytest.MonkeyPatch, pg_database: Any
) -> None:
    """A local PostgreSQL keeps a server process busy per reader: on 2 cores one reader
    (no split), on 4 cores two (units a multiple of two)."""
    monkeypatch.setattr(home_module, "server_is_local", real_server_is_local)
    create(pg_database, list(range(900)))
    assert [u.id for u in make_home(pg_database).plan(None)] == [pg_database.table("ev")]
    monkeypatch.setattr(home_module.os, "cpu_count", lambda: 4)
    assert len(make_home(pg_database).plan(None)) == 10  # 9 rounded up to a multiple of 2


@pytest.mark.parametrize(
    "ids",
    [list(range(199)), [i * 10_000 for i in range(150)]],
    ids=["fewer-keys-than-the-threshold", "sparse-keys-few-rows"],
)
def test_a_table_under_the_threshold_stays_one_unit_and_one_file(
    tmp_path: pathlib.Path, sqlite_database: Any, ids: list[int]
) -> None:
    create(sqlite_database, ids)
    lake = tmp_path / "lake"
    (result,) = FlowHarness(tmp_path).run_ok(flow(sqlite_database, lake))
    assert result.units == 1
    assert len(files(lake)) == 1
    assert landed_ids(lake) == ids


def test_split_false_reads_one_unit(tmp_path: pathlib.Path, pg_database: Any) -> None:
    create(pg_database, list(range(1000)))
    lake = tmp_path / "lake"
    (result,) = FlowHarness(tmp_path).run_ok(flow(pg_database, lake, split=False))
    assert (result.units, len(files(lake))) == (1, 1)
    assert landed_ids(lake) == list(range(1000))


def test_an_explicit_split_still_decides(tmp_path: pathlib.Path, sqlite_database: Any) -> None:
    create(sqlite_database, list(range(1000)))
    units = make_home(sqlite_database, split={"column": "at", "units": 3}).plan(None)
    assert [u.payload["split"] for u in units] == ["at", "at", "at"]


def test_which_tables_split(tmp_path: pathlib.Path, database: Any) -> None:
    """A single-column integer, date or timestamp key splits; a composite key, no key or a
    view does not, except on SQLite, whose rowid tables split on the rowid."""
    if not database.adbc:
        pytest.skip("only ADBC reads split by themselves")
    create(database, list(range(1000)), key="id,at")
    engine = database.engine()
    view = f"{database.schema}.v" if database.schema else "v"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE VIEW {view} AS SELECT * FROM {database.table('ev')}"))
    engine.dispose()
    units = make_home(database).plan(None)
    if database.kind == "sqlite":
        assert len(units) == 10
        assert {u.payload["split"] for u in units} == {"rowid"}
        got = [r for u in units for b in make_home(database).read(u) for r in b["id"].to_pylist()]
        assert sorted(got) == list(range(1000))
    else:
        assert [u.id for u in units] == [database.table("ev")]
    config = {"type": "sql", "url": database.url, "table": view}
    home = SqlHome(
        SqlHomeConfig.model_validate(config),
        FlowContext(flow="f", run_id="r", storage=StorageResolver({})),
    )
    assert [u.id for u in home.plan(None)] == [view]


def test_sqlite_tables_without_rowid_or_with_a_text_key(sqlite_database: Any) -> None:
    engine = sqlite_database.engine()
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE ev (id TEXT PRIMARY KEY, n INTEGER)"))
        conn.execute(
            sa.text("CREATE TABLE w (a INTEGER, b INTEGER, PRIMARY KEY (a, b)) WITHOUT ROWID")
        )
        for i in range(300):
            conn.execute(sa.text("INSERT INTO ev VALUES (:i, :n)"), {"i": f"k{i:04d}", "n": i})
            conn.execute(sa.text("INSERT INTO w VALUES (:a, :a)"), {"a": i})
    engine.dispose()
    assert [u.id for u in make_home(sqlite_database).plan(None)] == ["ev"]
    config = {"type": "sql", "url": sqlite_database.url, "table": "w"}
    home = SqlHome(
        SqlHomeConfig.model_validate(config),
        FlowContext(flow="f", run_id="r", storage=StorageResolver({})),
    )
    assert [u.id for u in home.plan(None)] == ["w"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            True,
            "expected false (read in one unit) or a mapping {column: ..., units: ...} (got True)",
        ),
        (
            "id",
            "expected false (read in one unit) or a mapping {column: ..., units: ...} (got 'id')",
        ),
        ({"colum": "id"}, "unknown field 'colum'"),
    ],
)
def test_bad_split_values_are_config_errors(
    tmp_path: pathlib.Path, value: Any, message: str
) -> None:
    harness = FlowHarness(tmp_path)
    text = harness.config_error(flow_for(tmp_path, split=value))
    assert "flow 'f' → home → field 'split" in text, text
    assert message in text, text
    assert "flows-1.yaml:" in text, text


def flow_for(tmp_path: pathlib.Path, **home: Any) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    return {
        "f": {
            "home": {"type": "sql", "url": url, "table": "ev", **home},
            "store": {"type": "parquet", "path": str(tmp_path / "lake")},
        }
    }


def test_a_bad_split_rows_setting_fails_the_flow_clearly(
    tmp_path: pathlib.Path, sqlite_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(sqlite_database, list(range(10)))
    monkeypatch.setenv("HYGGE_SQL_SPLIT_ROWS", "1M")
    (result,) = FlowHarness(tmp_path).run(flow(sqlite_database, tmp_path / "lake"))
    assert result.status == "failed"
    assert result.error == "HYGGE_SQL_SPLIT_ROWS must be a positive integer, not '1M'"


def test_incremental_auto_split_reads_only_the_window(
    tmp_path: pathlib.Path, database: Any
) -> None:
    if not database.adbc:
        pytest.skip("only ADBC reads split by themselves")
    create(database, list(range(1000)))
    lake = tmp_path / "lake"
    harness = FlowHarness(tmp_path)
    spec = flow(database, lake, incremental={"cursor": "at"})
    (first,) = harness.run_ok(spec)
    assert (first.rows, first.units) == (1000, 10)
    create(database, list(range(1000, 1300)), start=1000)
    (second,) = harness.run_ok(spec)
    # The window holds ids 1000..1299: min and max within it plan units of about 100.
    assert (second.rows, second.units) == (300, auto_units(300, 100, 2))
    assert second.window is not None and second.window.after == T0 + dt.timedelta(seconds=999)
    assert landed_ids(lake) == list(range(1300))


def test_split_units_read_up_to_the_cursor_maximum_of_the_plan(sqlite_database: Any) -> None:
    """A row written while the units are read, with a cursor beyond the plan's maximum,
    waits for the next run: an earlier unit may already have passed its key range, and
    the run's cursor must not move past a row no unit read."""
    create(sqlite_database, list(range(1000)))
    home = make_home(sqlite_database)
    window = Window(cursor="at", after=None)
    units = home.plan(window)
    assert {u.payload["upto"] for u in units} == {T0 + dt.timedelta(seconds=999)}
    create(sqlite_database, [-5, 5000], start=2000)  # first and last unit's ranges
    units = [type(u)(**{**u.__dict__, "window": window}) for u in units]
    got = [r for u in units for b in home.read(u) for r in b["id"].to_pylist()]
    assert sorted(got) == list(range(1000))


def test_a_killed_split_run_resumes_and_converges(tmp_path: pathlib.Path) -> None:
    """Killed after three of ten units were staged; the rerun adopts them (same plan) and
    lands every row once. Rows added before a second kill change the plan: nothing is
    adopted by mistake and the result is still exact."""
    database = type("Db", (), {"url": f"sqlite:///{tmp_path / 'src.db'}", "schema": None})()
    database.engine = lambda: sa.create_engine(database.url)  # type: ignore[attr-defined]
    database.table = lambda name: name  # type: ignore[attr-defined]
    create(database, list(range(1000)))
    lake = tmp_path / "lake"
    spec = flow(database, lake)
    spec["f"]["parallelism"] = 1
    spec["f"]["store"]["mode"] = "replace"
    path = tmp_path / "flows.yaml"
    path.write_text(yaml.safe_dump({"flows": spec}))

    def run(faults: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "HYGGE_FAULTS"}
        if faults:
            env["HYGGE_FAULTS"] = faults
        return subprocess.run(
            [HYGGE, "run", str(path)], capture_output=True, text=True, env=env, timeout=120
        )

    assert run("unit.staged@3=kill").returncode == -9
    assert not files(lake)
    done = run()
    assert done.returncode == 0, done.stderr
    # (10 units of 100 rows on two cores; a multiple of the cores elsewhere)
    assert re.search(r"resumed 3 of \d+ work unit\(s\) \(\d+ rows\)", done.stdout + done.stderr)
    assert landed_ids(lake) == list(range(1000))

    create(database, list(range(1000, 1100)), start=1000)
    assert run("unit.staged@2=kill").returncode == -9
    create(database, list(range(1100, 1350)), start=1100)
    done = run()
    assert done.returncode == 0, done.stderr
    assert landed_ids(lake) == list(range(1350))
