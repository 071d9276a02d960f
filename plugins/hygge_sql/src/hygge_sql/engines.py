"""Database URLs, drivers and engines: one engine per database per process, made lazily.

Homes and stores are pickled to other processes (Dask workers), so they never hold an engine;
they ask `engine(url)` here, which keeps one per (process, URL, pool size). A missing driver is
reported with the extra that installs it.
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from hygge_core import PermanentError

# Which extra of hygge-sql brings a (dialect, driver)'s DB-API module.
EXTRAS = {
    ("postgresql", "psycopg"): "hygge-sql[postgres]",
    ("mysql", "pymysql"): "hygge-sql[mysql]",
    ("mariadb", "pymysql"): "hygge-sql[mysql]",
}
# The driver hygge uses when a URL names none (SQLAlchemy's own defaults are psycopg2 and
# mysqlclient, which hygge-sql's extras do not install).
DEFAULT_DRIVERS = {"postgresql": "psycopg", "postgres": "psycopg", "mysql": "pymysql"}

_ENGINES: dict[tuple[int, str, int], Engine] = {}
_LOCK = threading.Lock()


def normalize_url(url: URL) -> URL:
    """`postgresql://` → `postgresql+psycopg://`, `mysql://` → `mysql+pymysql://`."""
    backend, _, driver = url.drivername.partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if not driver and backend in DEFAULT_DRIVERS:
        return url.set(drivername=f"{backend}+{DEFAULT_DRIVERS[backend]}")
    if not driver and backend == "mariadb":
        return url.set(drivername="mariadb+pymysql")
    return url.set(drivername=f"{backend}+{driver}" if driver else backend)


def describe_url(url: URL) -> str:
    """The URL with its password masked, for logs and `--dry-run`."""
    return url.render_as_string(hide_password=True)


def check_driver(url: URL) -> None:
    """Raise a one-line error naming the extra to install if the URL's driver is missing."""
    try:
        dialect_cls = url.get_dialect()
    except sa.exc.NoSuchModuleError:
        raise PermanentError(
            f"SQLAlchemy has no dialect '{url.drivername}'; install the package that provides "
            "it, or use postgresql://, mysql://, mariadb:// or sqlite:///"
        ) from None
    try:
        dialect_cls.import_dbapi()
    except ImportError as exc:
        extra = EXTRAS.get((url.get_backend_name(), url.get_driver_name()))
        install = (
            f"install it: pip install '{extra}'"
            if extra
            else f"install its Python module '{exc.name or url.get_driver_name()}'"
        )
        raise PermanentError(
            f"the {url.get_backend_name()} driver '{url.get_driver_name()}' is not installed; "
            f"{install}"
        ) from None


def adbc_available(backend: str) -> bool:
    """True if the ADBC driver for `backend` imports (set HYGGE_SQL_ADBC=0 to never use it)."""
    if os.environ.get("HYGGE_SQL_ADBC", "1") == "0":
        return False
    module = {"postgresql": "adbc_driver_postgresql", "sqlite": "adbc_driver_sqlite"}
    if backend not in module:
        return False
    try:
        importlib.import_module(module[backend])
    except ImportError:
        return False
    return True


def default_pool_size() -> int:
    """Connections kept open: enough for every unit of a flow to read or load at once (one
    per core, hygge's default parallelism), plus commit and the flow lock. More are opened
    when more units run at once (`parallelism:`, several flows) and closed when returned."""
    return (os.cpu_count() or 2) + 4


def engine(url: URL, pool_size: int | None = None) -> Engine:
    """The process's engine for `url`, created on first use.

    Keyed by pid too: a forked child must not reuse its parent's pooled sockets.
    """
    size = pool_size or default_pool_size()
    key = (os.getpid(), url.render_as_string(hide_password=False), size)
    with _LOCK:
        found = _ENGINES.get(key)
        if found is not None:
            return found
        check_driver(url)
        made = _create(url, size)
        _ENGINES[key] = made
        return made


def _create(url: URL, size: int) -> Engine:
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        from hygge_sql.backends import sqlitefile

        connect_args["timeout"] = sqlitefile.BUSY_TIMEOUT_MS / 1000  # another writer's lock
        # A file database: a connection per use, closed after it, so that ADBC may open the
        # file in between (see `sqlitefile`); an in-memory one keeps its single connection.
        if url.database and url.database != ":memory:":
            kwargs = {"poolclass": sa.pool.NullPool}
    else:
        # No cap on overflow: hygge's own concurrency bounds it, and a capped pool would
        # make units wait for (and time out on) connections other units hold.
        kwargs.update(pool_size=size, max_overflow=-1, pool_recycle=3600)
    if backend in ("mysql", "mariadb"):
        # utf8mb4 holds every Unicode character; UTC sessions make TIMESTAMP columns absolute.
        connect_args.update(charset="utf8mb4", init_command="SET time_zone = '+00:00'")
    made = sa.create_engine(url, connect_args=connect_args, **kwargs)
    if backend == "sqlite":
        _sqlite_transactions(made)
        if url.database and url.database != ":memory:":
            _sqlite_turns(made, sqlite_path(url))
    return made


def _sqlite_turns(made: Engine, path: str) -> None:
    """Open `sqlite3` connections to a file in that library's turn (see `sqlitefile`)."""
    from hygge_sql.backends import sqlitefile

    @sa.event.listens_for(made, "do_connect")
    def _do_connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return sqlitefile.connect_sqlite3(dialect.loaded_dbapi, path, cargs, cparams)


def _sqlite_transactions(made: Engine) -> None:
    """Make SQLite transactions real: Python's sqlite3 does not BEGIN before DDL, so a CREATE
    TABLE would commit on its own. hygge issues BEGIN itself (IMMEDIATE for writers, so two
    writers queue on the busy timeout instead of failing on a lock upgrade)."""

    @sa.event.listens_for(made, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(made, "begin")
    def _begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get("hygge_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def adbc_postgres_uri(url: URL) -> str:
    """The libpq URI ADBC wants, from a SQLAlchemy URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def sqlite_path(url: URL) -> str:
    """The database file of a `sqlite:///` URL (`:memory:` for none)."""
    return url.database or ":memory:"
