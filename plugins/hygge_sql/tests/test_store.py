"""The SQL store around the data: schema drift, named connections, state commands, the flow
lock, and `hygge validate --connect`."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml
from hygge_sql.store import SqlStore, SqlStoreConfig

from hygge_core import PermanentError
from hygge_core.context import FlowContext
from hygge_core.storage import StorageResolver
from hygge_core.testing import FlowHarness

HYGGE = str(pathlib.Path(sys.executable).with_name("hygge"))


def flow(
    harness: FlowHarness, database: Any, table: pa.Table, *, drift: str = "strict", **store: Any
) -> list[Any]:
    path = harness.root / f"in-{harness.count}.parquet"
    pq.write_table(table, path)
    return harness.run(
        {
            "f": {
                "home": {"type": "parquet", "path": str(path)},
                "store": {"type": "sql", "url": database.url, "table": database.table("t")} | store,
                "schema_drift": drift,
            }
        }
    )


V1 = pa.table({"id": pa.array([1, 2], pa.int64()), "n": pa.array([10, 20], pa.int32())})
V2 = pa.table(
    {
        "id": pa.array([3], pa.int64()),
        "n": pa.array([2**40], pa.int64()),  # int32 → int64: a widening
        "extra": ["new"],  # an added column
    }
)


def test_strict_drift_fails_with_a_diff(tmp_path: pathlib.Path, database: Any) -> None:
    harness = FlowHarness(tmp_path)
    assert flow(harness, database, V1)[0].status == "ok"
    result = flow(harness, database, V2)[0]
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith(f"table '{database.table('t')}': schema changed (strict")
    assert "~ n: int32 → int64" in result.error and "+ extra: string" in result.error
    assert "schema_drift: evolve" in result.error


def test_evolve_adds_and_widens_columns(
    tmp_path: pathlib.Path, database: Any, read_sql: Any
) -> None:
    harness = FlowHarness(tmp_path)
    assert flow(harness, database, V1)[0].status == "ok"
    result = flow(harness, database, V2, drift="evolve")[0]
    if database.kind == "sqlite":
        assert result.status == "failed"
        assert "SQLite cannot change the declared type of column 'n'" in (result.error or "")
        narrow = V2.set_column(1, "n", pa.array([30], pa.int32()))
        assert flow(harness, database, narrow, drift="evolve")[0].status == "ok"
        want = [(1, 10, None), (2, 20, None), (3, 30, "new")]
    else:
        assert result.status == "ok", result.error
        want = [(1, 10, None), (2, 20, None), (3, 2**40, "new")]
    got = read_sql(database.url, database.table("t")).sort_by("id")
    assert [tuple(r.values()) for r in got.to_pylist()] == want
    if database.kind != "sqlite":
        assert got.schema.field("n").type == pa.int64()


def test_removed_column_fails_strict_and_is_null_under_evolve(
    tmp_path: pathlib.Path, sqlite_database: Any, read_sql: Any
) -> None:
    harness = FlowHarness(tmp_path)
    assert flow(harness, sqlite_database, V1)[0].status == "ok"
    result = flow(harness, sqlite_database, V1.select(["id"]), mode="replace")[0]
    assert "- n: int32 (missing from the home)" in (result.error or "")
    assert "set schema_drift: evolve" in (result.error or "")
    # Under evolve the table keeps the column; the rows written hold NULL in it.
    result = flow(harness, sqlite_database, V1.select(["id"]), drift="evolve", mode="replace")[0]
    assert result.status == "ok", result.error
    got = read_sql(sqlite_database.url, sqlite_database.table("t")).sort_by("id")
    assert got.column_names == ["id", "n"]
    assert got.column("n").null_count == got.num_rows > 0


def test_named_connections_by_url_and_by_parts(tmp_path: pathlib.Path, read_sql: Any) -> None:
    db = tmp_path / "named.db"
    pq.write_table(V1, tmp_path / "in.parquet")
    harness = FlowHarness(tmp_path)
    connections = {
        "parts": {"type": "sql", "drivername": "sqlite", "database": str(db)},
        "whole": {"type": "sql", "url": f"sqlite:///{db}"},
    }
    harness.run_ok(
        {
            "by_parts": {
                "home": {"type": "parquet", "path": str(tmp_path / "in.parquet")},
                "store": {"type": "sql", "connection": "parts", "table": "a"},
            }
        },
        connections=connections,
    )
    harness.run_ok(
        {
            "by_url": {
                "home": {"type": "sql", "connection": "whole", "table": "a"},
                "store": {"type": "parquet", "path": str(tmp_path / "out")},
            }
        },
        connections=connections,
    )
    assert pq.read_table(tmp_path / "out").sort_by("id").equals(V1)
    assert read_sql(f"sqlite:///{db}", "a").sort_by("id").equals(V1)


def test_bad_connections_are_named(tmp_path: pathlib.Path) -> None:
    """Config errors now (issue 21, point 11): validate reports both, before any run."""
    from hygge_core.errors import ConfigError

    pq.write_table(V1, tmp_path / "in.parquet")
    harness = FlowHarness(tmp_path)
    with pytest.raises(ConfigError) as info:
        harness.run(
            {
                "missing": {
                    "home": {"type": "parquet", "path": str(tmp_path / "in.parquet")},
                    "store": {"type": "sql", "connection": "nope", "table": "a"},
                },
                "both": {
                    "home": {"type": "parquet", "path": str(tmp_path / "in.parquet")},
                    "store": {"type": "sql", "connection": "both", "table": "a"},
                },
            },
            connections={"both": {"type": "sql", "url": "sqlite://", "drivername": "sqlite"}},
        )
    problems = {(p.flow, p.side, p.message) for p in info.value.problems}
    assert problems == {
        (
            "missing",
            "store",
            "connection 'nope' is not defined under connections:",
        ),
        (
            None,
            "connection 'both'",
            "give either url: or drivername: (with host, database, ...)",
        ),
    }


def test_state_show_and_reset(tmp_path: pathlib.Path, sqlite_database: Any) -> None:
    pq.write_table(V1, tmp_path / "in.parquet")
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        yaml.safe_dump(
            {
                "flows": {
                    "inc": {
                        "home": {
                            "type": "parquet",
                            "path": str(tmp_path / "in.parquet"),
                            "incremental": {"cursor": "id"},
                        },
                        "store": {"type": "sql", "url": sqlite_database.url, "table": "s"},
                    }
                }
            }
        )
    )

    def hygge(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [HYGGE, *args, str(flows)], capture_output=True, text=True, timeout=120
        )

    assert hygge("run").returncode == 0
    shown = hygge("state", "show")
    assert shown.returncode == 0 and "inc: cursor id = 2" in shown.stdout, shown.stdout
    assert "append  2 rows" in shown.stdout
    reset = subprocess.run(
        [HYGGE, "state", "reset", str(flows), "--flow", "inc"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert reset.returncode == 0 and "inc: state reset" in reset.stdout
    assert "no state (the next run is a full load)" in hygge("state", "show").stdout
    assert "1 flow valid, all connections answer" in hygge("validate", "--connect").stdout


def _store(database: Any, run_id: str) -> SqlStore:
    config = SqlStoreConfig.model_validate(
        {"type": "sql", "url": database.url, "table": database.table("t")}
    )
    return SqlStore(config, FlowContext(flow="f", run_id=run_id, storage=StorageResolver({})))


@pytest.mark.parametrize("kind", ["sqlite", "postgres", "mariadb"])
def test_one_run_per_flow_and_table(kind: str, request: pytest.FixtureRequest) -> None:
    database = request.getfixturevalue(
        {"sqlite": "sqlite_database", "postgres": "pg_database", "mariadb": "mysql_database"}[kind]
    )
    first, second = _store(database, "run-1"), _store(database, "run-2")
    with first.lock():
        with pytest.raises(PermanentError) as info, second.lock():
            pass
        assert str(info.value) == (
            f"table '{database.table('t')}': another hygge run of this flow is writing this "
            "table; wait for it to finish"
        )
    with second.lock():  # released with the first run
        pass


def test_recover_spares_the_current_run(tmp_path: pathlib.Path, sqlite_database: Any) -> None:
    """`recover` drops staging of other runs of this flow and table, not the running one's,
    nor another flow's."""
    engine = sa.create_engine(sqlite_database.url)
    with engine.begin() as conn:  # an existing target: one staging table per unit
        conn.execute(sa.text("CREATE TABLE t (id BIGINT, n INT)"))
    old, current = _store(sqlite_database, "run-old"), _store(sqlite_database, "run-now")
    config = SqlStoreConfig.model_validate(
        {"type": "sql", "url": sqlite_database.url, "table": "t"}
    )
    other_flow = SqlStore(
        config, FlowContext(flow="g", run_id="run-old", storage=StorageResolver({}))
    )
    for store in (old, current, other_flow):
        store.prepare(V1.schema)
        store.stage(type("U", (), {"id": "u", "seq": 0})(), iter(V1.to_batches()))  # type: ignore[arg-type]
    lines = current.recover()
    assert lines == [f"dropped staging table {old.staging_name(0)} left by an interrupted run"]
    names = sa.inspect(engine).get_table_names()
    engine.dispose()
    assert current.staging_name(0) in names and other_flow.staging_name(0) in names
    assert old.staging_name(0) not in names


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_first_load_renames_one_shared_staging_table(
    kind: str, request: pytest.FixtureRequest, read_sql: Any
) -> None:
    """A missing target: every unit loads one staging table, recorded in a ledger (a unit
    loaded twice lands once), and the commit renames it into place."""
    database = request.getfixturevalue(f"{'pg' if kind == 'postgres' else 'sqlite'}_database")
    store = _store(database, "run-1")
    store.prepare(V1.schema)
    unit = type("U", (), {"id": "u", "seq": 0})()
    first = store.stage(unit, iter(V1.to_batches()))  # type: ignore[arg-type]
    again = store.stage(unit, iter(V1.to_batches()))  # type: ignore[arg-type]
    more = pa.table({"id": pa.array([3], pa.int64()), "n": pa.array([30], pa.int32())})
    other = store.stage(type("U", (), {"id": "v", "seq": 1})(), iter(more.to_batches()))  # type: ignore[arg-type]
    assert first.payload == again.payload == other.payload
    assert first.payload["table"].endswith("_all")
    assert again.rows == 2
    from hygge_core import FlowState

    store.commit([first, again, other], FlowState(flow="f"))
    got = read_sql(database.url, database.table("t")).sort_by("id")
    assert got["id"].to_pylist() == [1, 2, 3]
    engine = database.engine()
    names = sa.inspect(engine).get_table_names(schema=database.schema)
    engine.dispose()
    assert [n for n in names if n.startswith("_hygge_stg_")] == []


def test_a_sqlite_store_makes_its_folder(tmp_path: pathlib.Path, read_sql: Any) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'folder' / 'app.db'}"
    pq.write_table(V1, tmp_path / "in.parquet")
    FlowHarness(tmp_path).run_ok(
        {
            "f": {
                "home": {"type": "parquet", "path": str(tmp_path / "in.parquet")},
                "store": {"type": "sql", "url": url, "table": "t"},
            }
        }
    )
    assert read_sql(url, "t").sort_by("id").equals(V1)
