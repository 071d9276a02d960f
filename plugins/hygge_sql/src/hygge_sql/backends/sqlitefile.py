"""Two SQLite libraries in one process, taking turns on a database file.

hygge opens SQLite files with two copies of the SQLite library: Python's `sqlite3` (the
system's libsqlite3, used through SQLAlchemy) and ADBC's driver (which links its own copy).
SQLite locks a file with POSIX record locks, which belong to the process: locks taken through
one copy never conflict with locks taken through the other, and closing a file descriptor in
one copy drops the locks the other copy holds. Two copies that have the same file open at the
same time therefore do not exclude each other: a reader sees a writer's journal as "hot" and
rolls it back, both write at once, the WAL index is reset under the other copy's feet. SQLite
reports that as "disk I/O error", "database is locked" or tables that vanish (it is the
"multiple copies of SQLite in one application" case of SQLite's "How To Corrupt" page).

So in a process, a database file is open in one library at a time: `use(path, library)` is
held from a connection's open to its close. Connections of the same library share the file
(SQLite's own locking works between them, and between processes); the other library waits
until the last of them has closed. SQLAlchemy therefore opens SQLite file connections per use
(no pool), which costs well under a millisecond.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

from hygge_core import TransientError

# How long a connection waits for another connection's lock (SQLite's busy timeout, ms).
BUSY_TIMEOUT_MS = 300_000
# How long a library waits for the other one to close the file: longer than any lock wait,
# so that a turn that never comes is reported instead of hanging the run.
TURN_TIMEOUT_S = 3600.0


class _Turns:
    """Who has one database file open: a library and how many of its connections; and who
    may switch its journal mode (see `use_wal`)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.library: str | None = None
        self.users = 0
        self.switch = threading.Lock()


_FILES: dict[str, _Turns] = {}
_FILES_LOCK = threading.Lock()


def file_key(path: str) -> str:
    """The identity of a database file (two URLs may spell one file differently)."""
    return os.path.realpath(path)


def _turns(path: str) -> _Turns:
    key = file_key(path)
    with _FILES_LOCK:
        found = _FILES.get(key)
        if found is None:
            found = _FILES[key] = _Turns()
        return found


def enter(path: str, library: str) -> None:
    """Wait until `library` may have `path` open, and count one more connection of it."""
    turns = _turns(path)
    with turns.cond:
        if not turns.cond.wait_for(
            lambda: turns.library in (None, library), timeout=TURN_TIMEOUT_S
        ):
            raise TransientError(
                f"the SQLite database {path} stayed open in another SQLite library of this "
                f"process for {TURN_TIMEOUT_S:.0f} s"
            )
        turns.library = library
        turns.users += 1


def leave(path: str) -> None:
    """Count one connection less; the other library may open the file once none is left."""
    turns = _turns(path)
    with turns.cond:
        turns.users -= 1
        if turns.users <= 0:
            turns.users = 0
            turns.library = None
            turns.cond.notify_all()


@contextlib.contextmanager
def use(path: str, library: str) -> Iterator[None]:
    """Hold `path` for `library` (see the module's docstring)."""
    enter(path, library)
    try:
        yield
    finally:
        leave(path)


class TurnConnection(sqlite3.Connection):
    """A `sqlite3` connection that gives the file back to the other library when closed."""

    hygge_path: str | None = None

    def close(self) -> None:
        try:
            super().close()
        finally:
            path, self.hygge_path = self.hygge_path, None
            if path is not None:
                leave(path)


def connect_sqlite3(dbapi: Any, path: str, cargs: Any, cparams: dict[str, Any]) -> Any:
    """Open a `sqlite3` connection to file `path` in this library's turn (SQLAlchemy's
    `do_connect`), set up for concurrent use: see `setup`."""
    enter(path, "sqlite3")
    try:
        conn = dbapi.connect(*cargs, **{**cparams, "factory": TurnConnection})
        conn.hygge_path = path
    except BaseException:
        leave(path)
        raise
    try:
        setup(conn.execute)
    except BaseException:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def adbc_connection(path: str) -> Iterator[Any]:
    """An ADBC connection to file `path`, opened in ADBC's turn and set up like `setup`."""
    from hygge_sql.backends import adbc

    with use(path, "adbc"), adbc.connect_sqlite(path) as conn:
        setup(conn.run)
        conn.commit()  # ADBC's pragmas run inside its implicit transaction
        yield conn


def setup(run: Any) -> None:
    """Every connection to a file waits for other connections' locks instead of failing at
    once. (WAL journal mode, which lets readers and a writer work at the same time, is set
    once by the store: see `use_wal`.)"""
    run(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def use_wal(path: str, run: Any) -> None:
    """Switch the database to WAL journal mode (kept in the file): readers then never block
    a writer's commit, nor a writer new readers. A database on a file system without shared
    memory keeps its mode (SQLite refuses the switch).

    One connection of this process switches a file at a time. Leaving rollback-journal mode,
    SQLite first reads the file (shared lock), then upgrades to the write lock. Two
    connections doing that at once deadlock: the one that got the write lock waits for the
    other's shared lock to go, the other waits for the write lock. SQLite breaks that by
    failing the second at once with "database is locked", without calling the busy handler
    (sqlite.org/c3ref/busy_handler.html); this failed concurrent flows' stores. Taken in
    turn, the first switches the file and the next finds it in WAL already, which takes
    only a read."""
    with _turns(path).switch:
        run("PRAGMA journal_mode = WAL")
