"""Flows that read and write one SQLite file at the same time, in one process and in two.

The cause of the failures these tests guard against: hygge opens SQLite files through two
copies of the SQLite library (Python's sqlite3 and ADBC's driver), whose POSIX locks do not
exclude each other within a process (`test_two_libraries_do_not_exclude_each_other`); and
two stores switching a new file to WAL at once, which SQLite fails at once with "database is
locked" (`test_a_wal_switch_fails_at_once_while_another_connection_writes`).
"""

from __future__ import annotations

import os
import pathlib
import sqlite3
import subprocess
import sys
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from hygge_sql.backends import sqlitefile
from hygge_sql.backends.sqlite import SqliteBackend

HYGGE = str(pathlib.Path(sys.executable).with_name("hygge"))
ROWS = 20_000
FLOWS = """\
flows:
  load_a:
    home: lake_a/
    store: {type: sql, url: "sqlite:///db.sqlite", table: a, mode: replace}
  merge_b:
    home: {type: sql, url: "sqlite:///db.sqlite", table: c, split: {column: id, units: 4}}
    store: {type: sql, url: "sqlite:///db.sqlite", table: b, mode: merge, keys: [id]}
  export_c:
    home: {type: sql, url: "sqlite:///db.sqlite", table: c, split: {column: id, units: 3}}
    store: {type: parquet, path: out_c/, mode: replace}
"""

adbc = pytest.importorskip("adbc_driver_sqlite.dbapi")


def make_folder(folder: pathlib.Path) -> None:
    """db.sqlite with table c; lake_a/ with three Parquet files; the flows file."""
    folder.mkdir()
    lake = folder / "lake_a"
    lake.mkdir()
    third = ROWS // 3
    for i, (lo, hi) in enumerate([(0, third), (third, 2 * third), (2 * third, ROWS)]):
        ids = list(range(lo, hi))
        pq.write_table(
            pa.table({"id": pa.array(ids, pa.int64()), "v": [f"a{n}" for n in ids]}),
            lake / f"part{i}.parquet",
        )
    with sqlite3.connect(folder / "db.sqlite") as conn:
        conn.execute("CREATE TABLE c (id INTEGER PRIMARY KEY, name TEXT, amount REAL)")
        conn.executemany(
            "INSERT INTO c VALUES (?, ?, ?)", [(n, f"n{n}", n * 0.5) for n in range(ROWS)]
        )
    conn.close()
    (folder / "flows.yaml").write_text(FLOWS)


def hygge(folder: pathlib.Path, *args: str, adbc: bool = True) -> subprocess.Popen[str]:
    env = {**os.environ, "HYGGE_SQL_ADBC": "1" if adbc else "0"}
    return subprocess.Popen(
        [HYGGE, "run", "flows.yaml", *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(proc: subprocess.Popen[str]) -> str:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return err


def check_results(folder: pathlib.Path) -> None:
    """Every table and file holds exactly the rows its flow moved."""
    expected_c = [(n, f"n{n}", n * 0.5) for n in range(ROWS)]
    conn = sqlite3.connect(folder / "db.sqlite")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT id, v FROM a ORDER BY id").fetchall() == [
            (n, f"a{n}") for n in range(ROWS)
        ]
        assert conn.execute("SELECT id, name, amount FROM b ORDER BY id").fetchall() == expected_c
        leftovers = conn.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE '\\_hygge\\_stg\\_%' ESCAPE '\\'"
        ).fetchall()
        assert leftovers == []
        states = conn.execute("SELECT flow, target FROM _hygge_state ORDER BY flow").fetchall()
        assert states == [("load_a", "a"), ("merge_b", "b")]
    finally:
        conn.close()
    out = pq.read_table(folder / "out_c").sort_by("id")
    assert list(
        zip(*(out.column(n).to_pylist() for n in ("id", "name", "amount")), strict=True)
    ) == (expected_c)


def test_two_libraries_do_not_exclude_each_other(tmp_path: pathlib.Path) -> None:
    """The cause: while Python's sqlite3 holds the write lock, a second sqlite3 connection
    is refused, but ADBC's copy of SQLite writes anyway (its POSIX locks belong to the same
    process). Without `sqlitefile`'s turns this is what concurrent flows did."""
    path = str(tmp_path / "t.db")
    first = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    first.execute("CREATE TABLE t (x)")
    first.execute("BEGIN IMMEDIATE")
    first.execute("INSERT INTO t VALUES (1)")
    second = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        second.execute("BEGIN IMMEDIATE")
    second.close()
    with adbc.connect(path) as other, other.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (2)")  # no lock error: nothing excludes it
        other.rollback()
    first.execute("ROLLBACK")
    first.close()


def test_adbc_waits_for_sqlite3_to_close_the_file(tmp_path: pathlib.Path) -> None:
    """With turns, ADBC opens the file only once no sqlite3 connection has it open."""
    path = str(tmp_path / "t.db")
    sqlite3.connect(path).close()
    opened: list[float] = []
    sqlitefile.enter(path, "sqlite3")

    def use_adbc() -> None:
        with sqlitefile.adbc_connection(path):
            opened.append(time.monotonic())

    thread = threading.Thread(target=use_adbc)
    thread.start()
    time.sleep(0.3)
    assert opened == []  # still waiting for sqlite3's turn to end
    released = time.monotonic()
    sqlitefile.leave(path)
    thread.join(10)
    assert len(opened) == 1 and opened[0] >= released


def test_a_wal_switch_fails_at_once_while_another_connection_writes(tmp_path: pathlib.Path) -> None:
    """Why `use_wal` switches one connection at a time: leaving rollback-journal mode, SQLite
    reads first, then upgrades to the write lock; while another connection holds the write
    lock (as a second switch does), the upgrade fails at once, not after the busy timeout.
    This is what failed concurrent flows' stores with "database is locked"."""
    path = str(tmp_path / "t.db")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN IMMEDIATE")
    switcher = sqlite3.connect(path, isolation_level=None, timeout=30)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        switcher.execute("PRAGMA journal_mode = WAL")
    assert time.monotonic() - started < 5  # no wait for the 30 s busy timeout
    writer.execute("ROLLBACK")
    assert switcher.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    switcher.close()
    writer.close()


def test_wal_switches_of_one_file_take_turns(tmp_path: pathlib.Path) -> None:
    """A second switch of the same file (spelt differently) starts only once the first has
    finished; a switch of another file does not wait."""
    path = str(tmp_path / "t.db")
    events: list[str] = []
    release = threading.Event()

    def slow(sql: str) -> None:
        events.append("first in")
        release.wait(10)
        events.append("first out")

    first = threading.Thread(target=sqlitefile.use_wal, args=(path, slow))
    first.start()
    while not events:
        time.sleep(0.01)
    sqlitefile.use_wal(str(tmp_path / "other.db"), lambda sql: events.append("other file"))
    second = threading.Thread(
        target=sqlitefile.use_wal,
        args=(str(tmp_path / "." / "t.db"), lambda sql: events.append(f"second: {sql}")),
    )
    second.start()
    time.sleep(0.3)
    assert events == ["first in", "other file"]  # the second waits for the first
    release.set()
    first.join(10)
    second.join(10)
    assert events == ["first in", "other file", "first out", "second: PRAGMA journal_mode = WAL"]


def test_a_refused_wal_switch_keeps_the_journal(tmp_path: pathlib.Path) -> None:
    """A store whose switch is refused (another process writes) goes on with the rollback
    journal instead of failing; the next store switches."""
    path = tmp_path / "t.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN IMMEDIATE")
    backend = SqliteBackend(sa.make_url(f"sqlite:///{path}"))
    backend.ensure_database()
    writer.execute("ROLLBACK")
    writer.close()
    assert journal_mode(path) == "delete"
    backend.ensure_database()
    assert journal_mode(path) == "wal"


def journal_mode(path: pathlib.Path) -> str:
    """The journal mode a new connection finds `path` in."""
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        conn.close()


def test_three_flows_on_one_file_ten_times(tmp_path: pathlib.Path) -> None:
    """Parquet → a, c → b (merge), c → Parquet, all on db.sqlite, three flows at once: every
    run of ten succeeds and every result is exact. (Before the fix, 6 of 8 such runs failed
    with "disk I/O error", "database is locked" or "no such table: _hygge_stg_…_units".)"""
    for i in range(10):
        folder = tmp_path / f"run{i}"
        make_folder(folder)
        err = finished(hygge(folder, "--concurrency", "3"))
        for flow in ("load_a", "merge_b", "export_c"):
            assert f"[{flow}] committed {ROWS:,} rows" in err, err
        check_results(folder)
    # The store switched the file to WAL, so readers and a writer work at once.
    conn = sqlite3.connect(tmp_path / "run9" / "db.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


def test_three_flows_on_one_file_through_sqlite3_only(tmp_path: pathlib.Path) -> None:
    """The same without ADBC (HYGGE_SQL_ADBC=0): one library, WAL and IMMEDIATE writes."""
    for i in range(3):
        folder = tmp_path / f"run{i}"
        make_folder(folder)
        err = finished(hygge(folder, "--concurrency", "3", adbc=False))
        assert f"[merge_b] committed {ROWS:,} rows" in err, err
        check_results(folder)


def test_two_processes_on_one_file(tmp_path: pathlib.Path) -> None:
    """Two `hygge run`s at once on one file: the loads in one, the merge in the other; then
    both again (the merge updates every row, the replace reloads)."""
    for i in range(3):
        folder = tmp_path / f"run{i}"
        make_folder(folder)
        for _ in range(2):
            first = hygge(folder, "--flow", "load_a", "--flow", "export_c")
            second = hygge(folder, "--flow", "merge_b")
            finished(first)
            err = finished(second)
            assert f"[merge_b] committed {ROWS:,} rows" in err, err
            check_results(folder)
