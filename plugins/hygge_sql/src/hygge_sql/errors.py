"""Database errors, sorted into what hygge retries and what it reports.

Connection faults (refused, reset, a server restarting, SQLite's busy lock) become
`TransientError`, which core retries with backoff. Everything else a database says — a wrong
password, a missing table, no permission, a value the column cannot hold — becomes a one-line
`PermanentError` that names the table and never the password.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from hygge_core import HyggeError, PermanentError, TransientError, first_line, mask_url

# Modules whose exceptions are database errors (matched by name: none is imported here).
_DB_MODULES = ("sqlalchemy", "psycopg", "psycopg2", "pymysql", "MySQLdb", "sqlite3", "adbc_")

# SQLSTATE classes and codes worth a retry: connection exceptions, serialization failures,
# deadlocks, operator intervention (a server shutting down or starting), too many connections,
# an object in use (a replication slot still held by the server process of a run killed a
# moment ago, until the server notices its client is gone).
_TRANSIENT_SQLSTATE = (
    "08",
    "40001",
    "40P01",
    "57P01",
    "57P02",
    "57P03",
    "53300",
    "53400",
    "55006",
)
# MySQL/MariaDB client and server codes worth a retry: cannot connect, server gone away,
# lost connection, too many connections, lock wait timeout, deadlock.
_TRANSIENT_MYSQL = {1040, 1053, 1205, 1213, 2002, 2003, 2006, 2013, 2055}
_TRANSIENT_TEXT = re.compile(
    r"connection refused|connection reset|server closed the connection|terminating connection"
    r"|connection timed out|timeout expired|lost connection|can't connect|gone away"
    r"|database is locked|broken pipe|connection is (closed|lost)|no connection to the server"
    r"|consuming input failed"
    r"|the database system is (starting up|shutting down|in recovery mode|not yet accepting)"
    r"|temporary failure in name resolution|ssl syscall error|too many clients",
    re.IGNORECASE,
)
# Said while connecting, but no retry will change it: the user must fix the URL or grants.
_PERMANENT_TEXT = re.compile(
    r"password authentication failed|access denied|authentication failed|no password supplied"
    r"|peer authentication failed|no pg_hba\.conf entry|does not exist|permission denied"
    r"|unknown database|failed to resolve host|could not translate host name",
    re.IGNORECASE,
)
# A database out of disk space (SQLite's SQLITE_FULL, PostgreSQL's 53100, MySQL's 1114/1021).
_DISK_FULL = re.compile(
    r"database or disk is full|no space left on device|could not extend file|disk full"
    r"|the table '.*' is full",
    re.IGNORECASE,
)
# Noise drivers put in front of the message the server sent.
_PREFIXES = re.compile(
    r"^(\w+: )?(\[\w+\] )?(Failed to (prepare|execute) query: )?(could not begin COPY: )?"
    r"(Failed to connect: )?(connection failed: )?(ERROR: +)?",
)


def is_db_error(exc: BaseException) -> bool:
    """Whether `exc` comes from SQLAlchemy or a database driver."""
    return any(cls.__module__.startswith(_DB_MODULES) for cls in type(exc).__mro__)


def _root(exc: BaseException) -> BaseException:
    """The driver's own exception under SQLAlchemy's wrapper."""
    return getattr(exc, "orig", None) or exc


def _sqlstate(exc: BaseException) -> str | None:
    for attr in ("sqlstate", "pgcode"):
        value = getattr(exc, attr, None)
        if isinstance(value, str) and value:
            return value
    diag = getattr(exc, "diag", None)
    return getattr(diag, "sqlstate", None) if diag is not None else None


def _mysql_code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], int) and type(exc).__module__.startswith(("pymysql", "MySQL")):
        return args[0]
    return None


def reason(exc: BaseException, secret: str | None = None) -> str:
    """The database's message, on one line, without SQL text or secrets."""
    root = _root(exc)
    code = _mysql_code(root)
    text = str(root.args[1]) if code is not None and len(root.args) > 1 else str(root)
    first = first_line(text)
    first = _PREFIXES.sub("", first)
    first = re.sub(r"\s*\[SQL: .*$", "", first)
    first = re.sub(r"\s*\(Background on this error.*$", "", first)
    first = re.sub(r"^\([\w.]+\)\s*", "", first)  # SQLAlchemy's "(psycopg.errors.X) "
    first = re.sub(r"\.? SQLSTATE: \w+$", "", first)
    first = re.sub(r"\b(FATAL|ERROR): +", "", first)
    first = mask_url(first)
    if secret and len(secret) >= 3:
        first = first.replace(secret, "***")
    return first or type(root).__name__


def is_disk_full(message: str) -> bool:
    """Whether a message (a hygge error's, or a driver's) says the database's disk is full."""
    return bool(_DISK_FULL.search(message))


def is_transient(exc: BaseException) -> bool:
    """True for faults a retry may cure: lost or refused connections, a busy database."""
    root = _root(exc)
    text = str(root)
    if _PERMANENT_TEXT.search(text):
        return False
    state = _sqlstate(root)
    if state is not None:
        return state.startswith(_TRANSIENT_SQLSTATE)
    code = _mysql_code(root)
    if code is not None:
        return code in _TRANSIENT_MYSQL
    return bool(_TRANSIENT_TEXT.search(text))


def translate(exc: BaseException, where: str, secret: str | None = None) -> HyggeError:
    """The hygge error for a database error raised while working on `where` (a table)."""
    message = f"{where}: {reason(exc, secret)}"
    if is_transient(exc):
        return TransientError(message)
    return PermanentError(message)


def stream(reader: Any, where: str, secret: str | None = None) -> Iterator[Any]:
    """The batches of a driver's `RecordBatchReader` (ADBC's), with its failures — which
    pyarrow raises as `OSError` or `ArrowInvalid`, carrying the driver's message — turned
    into hygge errors naming `where` (a connection lost mid-read is transient)."""
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (OSError, pa.ArrowException) as exc:
            raise translate(exc, where, secret) from None
        yield batch


@contextlib.contextmanager
def guarded(where: str, secret: str | None = None) -> Iterator[None]:
    """Turn database errors raised inside the block into hygge errors naming `where`."""
    try:
        yield
    except HyggeError:
        raise
    except Exception as exc:
        if not is_db_error(exc):
            raise
        raise translate(exc, where, secret) from None
