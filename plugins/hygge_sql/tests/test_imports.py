"""What a SQL run imports: ADBC through the driver manager, not its DB-API module.

`adbc_driver_manager.dbapi` pulls in `pyarrow.dataset` and polars (about 50 MB of resident
memory and 0.2 s per process here); `hygge_sql.backends.adbc` talks to the manager directly.
"""

from __future__ import annotations

import pathlib
import sqlite3

import pyarrow.parquet as pq
import pytest

from hygge_core.testing import hygge_imports

pytest.importorskip("adbc_driver_sqlite")


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
