"""What a SQL run imports: ADBC through the driver manager, not its DB-API module; a
PostgreSQL read, no `pyarrow.compute`.

`adbc_driver_manager.dbapi` pulls in `pyarrow.dataset` and polars (about 50 MB of resident
memory and 0.2 s per process here); `hygge_sql.backends.adbc` talks to the manager directly.
"""

from __future__ import annotations

import pathlib
import sqlite3
from typing import Any

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml

from hygge_core.testing import hygge_imports

pytest.importorskip("adbc_driver_sqlite")
pytest.importorskip("adbc_driver_postgresql")


def test_a_sqlite_run_reads_through_adbc_without_its_dbapi(tmp_path: pathlib.Path) -> None:
    with sqlite3.connect(tmp_path / "src.db") as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"n{i}") for i in range(100)])
    (tmp_path / "flows.yaml").write_text(
        "flows:\n  f:\n    home: {type: sql, url: 'sqlite:///src.db', table: t}\n"
        "    store: {type: parquet, path: out/}\n"
    )
    watched = ("adbc_driver_manager", "adbc_driver_sqlite", "pyarrow.dataset", "polars")
    done = hygge_imports(
        "run", "flows.yaml", prefixes=watched, cwd=tmp_path, env={"HYGGE_SQL_ADBC": "1"}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert pq.read_table(tmp_path / "out")["id"].to_pylist() == list(range(100))
    modules = done.modules
    assert "adbc_driver_sqlite" in modules, "the read went through ADBC"
    assert [
        m for m in modules if m.endswith(".dbapi") or m.startswith(("polars", "pyarrow.dataset"))
    ] == []


@pytest.mark.services
def test_a_postgresql_read_imports_no_pyarrow_compute(
    tmp_path: pathlib.Path, pg_database: Any
) -> None:
    # Its ~400 generated wrappers cost ~30 ms of CPU a run; a read whose column types
    # match what ADBC returns converts nothing.
    table = pg_database.table("src")
    with pg_database.engine().begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (id bigint PRIMARY KEY, name text)"))
        conn.execute(
            sa.text(f"INSERT INTO {table} SELECT g, 'n' || g FROM generate_series(0, 99) g")
        )
    (tmp_path / "flows.yaml").write_text(
        yaml.safe_dump(
            {
                "flows": {
                    "f": {
                        "home": {"type": "sql", "url": pg_database.url, "table": table},
                        "store": {"type": "parquet", "path": "out/"},
                    }
                }
            }
        )
    )
    done = hygge_imports("run", "flows.yaml", prefixes=("pyarrow.compute",), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    got = pq.read_table(tmp_path / "out")
    assert got["id"].to_pylist() == list(range(100))
    assert got["name"].to_pylist() == [f"n{i}" for i in range(100)]
    assert done.modules == []
