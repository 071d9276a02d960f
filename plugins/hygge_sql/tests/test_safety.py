"""Nothing from the config is spliced into SQL, and no password is ever shown.

Table, schema and column names full of quotes, semicolons and comment markers work and
inject nothing; a cursor value that looks like SQL is only ever a value.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
import yaml
from hygge_sql.home import SqlHome, SqlHomeConfig
from hygge_sql.store import SqlStore, SqlStoreConfig

from hygge_core.context import FlowContext
from hygge_core.storage import StorageResolver
from hygge_core.testing import FlowHarness
from hygge_core.units import Window

EVIL_TABLE = "t\"; DROP TABLE victim; --'x"
EVIL_COLUMN = "c\"ol'; DELETE FROM victim; --"
EVIL_VALUE = "z'); DROP TABLE victim; --"


def victim_alive(database: Any) -> bool:
    engine = database.engine()
    try:
        with engine.connect() as conn:
            return (
                conn.execute(sa.text(f"SELECT count(*) FROM {_q(database, 'victim')}")).scalar()
                == 1
            )
    finally:
        engine.dispose()


def _q(database: Any, name: str) -> str:
    return f'"{database.schema}".{name}' if database.schema else name


def test_hostile_names_and_values_inject_nothing(tmp_path: pathlib.Path, database: Any) -> None:
    engine = database.engine()
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {_q(database, 'victim')} (x INTEGER)"))
        conn.execute(sa.text(f"INSERT INTO {_q(database, 'victim')} VALUES (1)"))
    engine.dispose()
    table = pa.table(
        {
            "id": pa.array(range(100), pa.int64()),
            EVIL_COLUMN: pa.array([f"{EVIL_VALUE}{i:03d}" for i in range(100)]),
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    harness = FlowHarness(tmp_path)
    target = database.table(EVIL_TABLE)
    for mode, extra in (("replace", {}), ("append", {}), ("merge", {"keys": [EVIL_COLUMN]})):
        harness.run_ok(
            {
                f"evil_{mode}": {
                    "home": {"type": "parquet", "path": str(tmp_path / "in.parquet")},
                    "store": {"type": "sql", "url": database.url, "table": target, "mode": mode}
                    | extra,
                }
            }
        )
    # Read back by key range on the hostile column name, strictly after a hostile value.
    harness.run_ok(
        {
            "evil_read": {
                "home": {
                    "type": "sql",
                    "url": database.url,
                    "table": target,
                    "split": {"column": "id", "units": 3},
                    "incremental": {"cursor": EVIL_COLUMN, "start": f"{EVIL_VALUE}049"},
                },
                "store": {"type": "parquet", "path": str(tmp_path / "out")},
            }
        }
    )
    got = pq.read_table(tmp_path / "out").sort_by("id")
    assert got.column_names == ["id", EVIL_COLUMN]
    # replace, then append: two of each row (merge updated both copies in place)
    assert got["id"].to_pylist() == sorted(list(range(50, 100)) * 2)
    assert victim_alive(database)


def test_home_window_values_are_bound(tmp_path: pathlib.Path, sqlite_database: Any) -> None:
    """The compiled SELECT holds no value: the window is a parameter (ADBC path too)."""
    table = pa.table({"id": [1, 2], "s": ["a", EVIL_VALUE]})
    pq.write_table(table, tmp_path / "in.parquet")
    FlowHarness(tmp_path).run_ok(
        {
            "put": {
                "home": {"type": "parquet", "path": str(tmp_path / "in.parquet")},
                "store": {"type": "sql", "url": sqlite_database.url, "table": "w"},
            }
        }
    )
    config = SqlHomeConfig.model_validate({"type": "sql", "url": sqlite_database.url, "table": "w"})
    home = SqlHome(config, FlowContext(flow="f", run_id="r", storage=StorageResolver({})))
    seen: list[str] = []
    backend = home.backend
    original = type(backend).read

    def spy(self: Any, stmt: Any, binds: Any, *args: Any) -> Any:
        seen.append(str(stmt))
        seen.extend(map(str, binds.values))
        return original(self, stmt, binds, *args)

    type(backend).read = spy  # type: ignore[method-assign]
    try:
        unit = home.plan(None)[0]
        unit = type(unit)(id=unit.id, window=Window(cursor="s", after="a"))
        rows = [r for b in home.read(unit) for r in b.to_pylist()]
    finally:
        type(backend).read = original  # type: ignore[method-assign]
    assert rows == [{"id": 2, "s": EVIL_VALUE}]
    assert "'a'" not in seen[0] and ":hygge_p0" in seen[0]
    assert seen[1:] == ["a"]


SECRET = "pa55-w0rd!x"


def test_passwords_never_show(tmp_path: pathlib.Path) -> None:
    """describe(), errors, logs and `--dry-run` mask the password of a URL."""
    url = f"postgresql://loader:{SECRET}@127.0.0.1:9/nowhere"
    context = FlowContext(flow="f", run_id="r", storage=StorageResolver({}))
    store = SqlStore(
        SqlStoreConfig.model_validate({"type": "sql", "url": url, "table": "t"}), context
    )
    home = SqlHome(SqlHomeConfig.model_validate({"type": "sql", "url": url, "table": "t"}), context)
    assert SECRET not in store.describe() and "***" in store.describe()
    assert SECRET not in home.describe()
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        yaml.safe_dump(
            {
                "connections": {"db": {"type": "sql", "url": url}},
                "flows": {
                    "f": {
                        "home": {"type": "sql", "connection": "db", "table": "t"},
                        "store": {"type": "parquet", "path": str(tmp_path / "out")},
                        "retry": {"attempts": 1},
                    },
                    "g": {
                        "home": {"type": "parquet", "path": str(tmp_path / "none.parquet")},
                        "store": {"type": "sql", "url": url, "table": "t"},
                        "retry": {"attempts": 1},
                    },
                },
            }
        )
    )
    hygge = str(pathlib.Path(sys.executable).with_name("hygge"))
    for args in (["run"], ["run", "--dry-run"], ["run", "-v"], ["validate", "--connect"]):
        done = subprocess.run(
            [hygge, *args, str(flows)], capture_output=True, text=True, timeout=120
        )
        assert SECRET not in done.stdout + done.stderr, (args, done.stdout, done.stderr)
        assert done.returncode != 0 or args == ["run", "--dry-run"], (args, done.stderr)
