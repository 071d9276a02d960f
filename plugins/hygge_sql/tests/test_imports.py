"""What a SQL run imports: ADBC through the driver manager, not its DB-API module.

`adbc_driver_manager.dbapi` pulls in `pyarrow.dataset` and polars (about 50 MB of resident
memory and 0.2 s per process here); `hygge_sql.backends.adbc` talks to the manager directly.
"""

from __future__ import annotations

import ast
import os
import pathlib
import sqlite3
import subprocess
import sys
import textwrap

import pyarrow.parquet as pq
import pytest

pytest.importorskip("adbc_driver_sqlite")


def test_a_sqlite_run_reads_through_adbc_without_its_dbapi(tmp_path: pathlib.Path) -> None:
    with sqlite3.connect(tmp_path / "src.db") as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"n{i}") for i in range(100)])
    (tmp_path / "flows.yaml").write_text(
        "flows:\n  f:\n    home: {type: sql, url: 'sqlite:///src.db', table: t}\n"
        "    store: {type: parquet, path: out/}\n"
    )
    probe = textwrap.dedent(
        """
        import atexit, sys
        watched = ("adbc_driver_manager", "adbc_driver_sqlite", "pyarrow.dataset", "polars")
        atexit.register(lambda: print("LOADED", sorted(m for m in sys.modules
                                                       if m.startswith(watched))))
        from hygge_core.cli import main
        sys.argv = ["hygge", "run", "flows.yaml"]
        main()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={**os.environ, "HYGGE_CLEAN_EXIT": "1", "HYGGE_SQL_ADBC": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert pq.read_table(tmp_path / "out")["id"].to_pylist() == list(range(100))
    (loaded,) = [line for line in done.stdout.splitlines() if line.startswith("LOADED")]
    modules = ast.literal_eval(loaded.removeprefix("LOADED "))
    assert "adbc_driver_sqlite" in modules, "the read went through ADBC"
    assert [
        m for m in modules if m.endswith(".dbapi") or m.startswith(("polars", "pyarrow.dataset"))
    ] == []
