"""SQLite: a file, no server. ADBC when installed (`hygge-sql[sqlite]`), else Python's sqlite3.

SQLite stores five kinds of value (NULL, integer, real, text, blob); the declared type of a
column is only a hint. hygge reads declared types the way SQLAlchemy and most tools write them
and stores what SQLite has no kind for as text: dates `2024-03-01`, timestamps
`2024-03-01 12:00:00.123456` (with a `Z` when they have a zone), times `12:00:00.123456`,
decimals as their digits in a `DECIMAL_TEXT(p,s)` column (a NUMERIC column would round them
to 15 digits), booleans as 0/1.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, Connection
from sqlalchemy.types import UserDefinedType

from hygge_core import PermanentError
from hygge_sql import engines
from hygge_sql.backends import sqlitefile
from hygge_sql.backends.base import Backend, Binds, Ledger, query_text
from hygge_sql.backends.ingest import ingest
from hygge_sql.config import TableName
from hygge_sql.errors import guarded, stream
from hygge_sql.types import Column, coerce, decimal_type, detach

_COMPILER = sqlite.dialect(paramstyle="qmark")
_DECLARED = re.compile(
    r"^(?P<base>[A-Z_][A-Z0-9_ ]*?)\s*(\(\s*(?P<p>\d+)\s*(,\s*(?P<s>-?\d+)\s*)?\))?$"
)
# One unit loading a database file per process: SQLite serialises writers anyway, and waiting
# on a lock in this process is cheaper than spinning on SQLITE_BUSY. Only loads take it: a
# load holding it waits for its home's reader, which may be waiting for its library's turn on
# the file (see `sqlitefile`); a statement of the other library holding it would wait for
# that turn as well, and never get it.
_WRITERS: dict[str, threading.Lock] = {}
_WRITERS_LOCK = threading.Lock()


class Declared(UserDefinedType[Any]):
    """A SQLite column type by its declared name (hygge's names carry width and zone)."""

    cache_ok = True

    def __init__(self, name: str) -> None:
        self.name = name

    def get_col_spec(self, **_: Any) -> str:
        return self.name


def declared_arrow(declared: str) -> tuple[pa.DataType | None, bool]:
    """(Arrow type, read as text?) for a declared SQLite type; (None, False) when the column
    declares no type and its values must tell."""
    text = declared.strip().upper()
    if not text:
        return None, False
    m = _DECLARED.match(text)
    base = m["base"].strip() if m else text
    precision = int(m["p"]) if m and m["p"] else None
    scale = int(m["s"]) if m and m["s"] else None
    exact: dict[str, pa.DataType] = {
        "INTEGER": pa.int64(),
        "BIGINT": pa.int64(),
        "INT8": pa.int64(),
        "UNSIGNED BIG INT": pa.int64(),
        "INT": pa.int32(),
        "INT4": pa.int32(),
        "MEDIUMINT": pa.int32(),
        "SMALLINT": pa.int16(),
        "INT2": pa.int16(),
        "TINYINT": pa.int8(),
        "BOOLEAN": pa.bool_(),
        "BOOL": pa.bool_(),
        "FLOAT4": pa.float32(),
        "REAL": pa.float64(),
        "DOUBLE": pa.float64(),
        "DOUBLE PRECISION": pa.float64(),
        "FLOAT": pa.float64(),
        "FLOAT8": pa.float64(),
        "DATE": pa.date32(),
        "DATETIME": pa.timestamp("us"),
        "TIMESTAMP": pa.timestamp("us"),
        "TIMESTAMPTZ": pa.timestamp("us", "UTC"),
        "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", "UTC"),
        "TIME": pa.time64("us"),
        "BLOB": pa.binary(),
        "BYTEA": pa.binary(),
        "JSON": pa.string(),
        "UUID": pa.string(),
    }
    if base in exact:
        return exact[base], False
    if base in ("DECIMAL_TEXT", "DECIMAL", "NUMERIC") and precision is not None:
        return decimal_type(precision, scale)
    # SQLite's own affinity rules, in its order.
    if "INT" in base:
        return pa.int64(), False
    if any(word in base for word in ("CHAR", "CLOB", "TEXT")):
        return pa.string(), False
    if "BLOB" in base:
        return pa.binary(), False
    if any(word in base for word in ("REAL", "FLOA", "DOUB")):
        return pa.float64(), False
    return pa.string(), True  # NUMERIC affinity of unknown meaning: keep its text


_KINDS = {"integer": pa.int64(), "real": pa.float64(), "text": pa.string(), "blob": pa.binary()}


class SqliteBackend(Backend):
    """SQLite 3.35+, from a `sqlite:///path/to/file.db` URL."""

    name = "sqlite"
    renames = True
    keeps_special_floats = False  # a NaN bound to a REAL is stored as NULL, -0.0 as 0

    def __init__(self, url: URL, pool_size: int | None = None) -> None:
        super().__init__(url, pool_size)
        self.adbc = engines.adbc_available("sqlite")
        self.path = engines.sqlite_path(url)

    # ---- types -------------------------------------------------------------------------

    def arrow_type(self, sql_type: Any) -> tuple[pa.DataType, bool]:
        name = sql_type.name if isinstance(sql_type, Declared) else str(sql_type)
        arrow, as_text = declared_arrow(name)
        return (arrow or pa.string()), as_text

    def storage_arrow(self, t: pa.DataType) -> pa.DataType:
        if pa.types.is_boolean(t) or (pa.types.is_integer(t) and t != pa.uint64()):
            return pa.int64()
        if pa.types.is_floating(t):
            return pa.float64()
        if (
            pa.types.is_decimal(t)
            or pa.types.is_temporal(t)
            or t == pa.uint64()
            or pa.types.is_string(t)
        ):
            return pa.string()
        return t

    def ddl_type(self, t: pa.DataType) -> Any:
        if pa.types.is_boolean(t):
            return Declared("BOOLEAN")
        if pa.types.is_integer(t):
            if t == pa.uint64():
                return Declared("DECIMAL_TEXT(20, 0)")
            width = t.bit_width * 2 if pa.types.is_unsigned_integer(t) else t.bit_width
            return Declared({8: "TINYINT", 16: "SMALLINT", 32: "INT"}.get(width, "BIGINT"))
        if pa.types.is_float32(t) or pa.types.is_float16(t):
            return Declared("FLOAT4")
        if pa.types.is_floating(t):
            return Declared("REAL")
        if pa.types.is_decimal(t):
            return Declared(f"DECIMAL_TEXT({t.precision}, {t.scale})")
        if pa.types.is_timestamp(t):
            return Declared("TIMESTAMPTZ" if t.tz else "TIMESTAMP")
        if pa.types.is_date(t):
            return Declared("DATE")
        if pa.types.is_time(t):
            return Declared("TIME")
        if pa.types.is_binary(t):
            return Declared("BLOB")
        return Declared("TEXT")

    def fetch_type(self, column: Column) -> pa.DataType:
        if column.as_text:
            return pa.string()
        return self.storage_arrow(column.arrow)

    def storage_value(self, value: Any, arrow: pa.DataType) -> Any:
        # Compare in the stored form: timestamps and decimals are text here.
        array = coerce(pa.array([value], type=arrow), self.storage_arrow(arrow), "value")
        return array[0].as_py()

    def read_expr(self, expr: sa.ColumnElement[Any], column: Column) -> sa.ColumnElement[Any]:
        if column.as_text or pa.types.is_decimal(column.arrow):
            # A DECIMAL column may hold integers, reals and text side by side.
            return sa.cast(expr, sa.Text()).label(column.name)
        return expr.label(column.name)

    # ---- catalog -----------------------------------------------------------------------

    def qualify(self, table: TableName) -> TableName:
        # A SQLite file is one schema, `main` (hygge attaches no other database).
        if table.schema in (None, "main"):
            return TableName(table.name)
        raise PermanentError(
            f"table '{table}': a SQLite database has no schema '{table.schema}': its tables "
            f"live in 'main'; write table: {table.name}"
        )

    def ensure_database(self) -> None:
        # SQLite creates the file, not its folder; a store path is created like a lake's.
        if self.path != ":memory:":
            folder = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(folder, exist_ok=True)
            # Flows that read and write this file at once must not block each other. Should
            # the switch fail, the store goes on in the file's journal mode: the first query
            # reports a file that is no database; a switch refused because another process
            # holds the write lock (refused at once: see `use_wal`) leaves the rollback
            # journal, under which flows wait for each other's locks (slower, not wrong), and
            # a later run switches. The PRAGMA runs on the driver's own connection, so its
            # errors are sqlite3's, not SQLAlchemy's.
            with contextlib.suppress(sa.exc.DBAPIError, sqlite3.Error):
                raw = self.engine.raw_connection()
                try:
                    driver = cast(sqlite3.Connection, raw.driver_connection)
                    sqlitefile.use_wal(self.path, driver.execute)
                finally:
                    raw.close()

    def space_hint(self) -> str:
        if self.path == ":memory:":
            return "the process ran out of memory for the in-memory database"
        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            free = f"{shutil.disk_usage(folder).free / (1 << 20):,.1f} MB free"
        except OSError:
            free = "free space unknown"
        return (
            f"the disk holding {self.path} is full ({free}): free at least as much space "
            "there as the data to load takes (its WAL needs as much again until the next "
            "checkpoint), or move the database, then re-run; the next run first drops what "
            "this run staged"
        )

    def reclaim_space(self) -> None:
        # SQLite keeps a WAL at its largest size: after a load that filled the disk the WAL
        # holds it all, and dropping the staging tables gives the pages back to the file,
        # not to the disk. A checkpoint that truncates the WAL frees that room (it needs
        # room to copy what is committed first: on a disk still full it fails, harmlessly).
        if self.path == ":memory:" or not os.path.exists(self.path):
            return
        with (
            contextlib.closing(sqlite3.connect(self.path, timeout=1)) as conn,
            contextlib.suppress(sqlite3.Error),
        ):
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def missing_database(self) -> str | None:
        # Connecting would create an empty file; a home must not invent its database.
        if self.path != ":memory:" and not os.path.exists(self.path):
            return f"the SQLite database file {self.path} does not exist"
        return None

    def table_columns(self, conn: Connection, table: TableName) -> list[Column] | None:
        """Declared types from `pragma_table_info` (SQLAlchemy's reflection would fold INT
        and INTEGER, which hygge tells apart)."""
        rows = conn.execute(
            sa.text("SELECT name, type FROM pragma_table_info(:t, :s) ORDER BY cid"),
            {"t": table.name, "s": table.schema or "main"},
        ).all()
        if not rows:
            return None
        columns = []
        for name, declared in rows:
            arrow, as_text = declared_arrow(declared or "")
            if arrow is None:
                arrow = self._kind_of(conn, table, name)
            columns.append(Column(name, arrow, as_text))
        return columns

    def _kind_of(self, conn: Connection, table: TableName, name: str) -> pa.DataType:
        """The storage class of a column's first non-NULL value (for untyped columns)."""
        src = sa.table(table.name, sa.column(name), schema=table.schema)
        kind = conn.execute(
            sa.select(sa.func.typeof(src.c[name])).where(src.c[name].is_not(None)).limit(1)
        ).scalar()
        return _KINDS.get(kind or "", pa.string())

    def query_columns(self, conn: Connection, query: str, sample: int) -> list[Column]:
        """A temporary view over the query, described, then rolled back."""
        name = f"_hygge_q_{secrets.token_hex(6)}"
        with conn.begin() as tx:
            view = conn.dialect.identifier_preparer.quote(name)
            conn.execute(sa.text(f"CREATE TEMPORARY VIEW {view} AS {query_text(query)}"))
            found = self.table_columns(conn, TableName(name, "temp"))
            tx.rollback()
        assert found is not None
        return found

    # ---- data --------------------------------------------------------------------------

    def read(
        self,
        stmt: sa.Select[Any],
        binds: Binds,
        columns: list[Column],
        batch_rows: int,
        where: str,
        snapshot: str | None = None,
    ) -> Iterator[pa.RecordBatch]:
        if not (binds.server and self.adbc):
            yield from super().read(stmt, binds, columns, batch_rows, where, snapshot)
            return
        # ADBC guesses each column's type from its first batch; a column that starts with a
        # batch of NULLs would be guessed wrong. A first row with a value of the right
        # storage class in every column (marked, and dropped below) fixes the guess.
        compiled = _with_sentinel(stmt, columns, self).compile(dialect=_COMPILER)
        params = [compiled.params[name] for name in compiled.positiontup or []]
        schema = pa.schema([(c.name, c.arrow) for c in columns])
        options = {"adbc.sqlite.query.batch_rows": str(batch_rows)}
        with (
            guarded(where),
            sqlitefile.adbc_connection(self.path) as conn,
            conn.query(str(compiled), params, options) as reader,
        ):
            for batch in stream(reader, where):
                flags = batch.column(0)
                if pc.max(flags).as_py() == 1:
                    batch = batch.filter(pc.equal(flags, 0))
                yield detach(batch, schema, offset=1)

    def stage(
        self,
        staging: sa.Table,
        batches: Iterable[pa.RecordBatch],
        schema: pa.Schema,
        batch_rows: int,
        where: str,
        ledger: Ledger | None = None,
    ) -> bool:
        with _writer(self.path):
            if not self.adbc:
                return super().stage(staging, batches, schema, batch_rows, where, ledger)
            with guarded(where), sqlitefile.adbc_connection(self.path) as conn:
                return ingest(conn, staging, batches, schema, ledger, _COMPILER)

    def upsert(
        self, target: sa.Table, names: list[str], keys: list[str], source: sa.Select[Any]
    ) -> Any:
        # `INSERT ... SELECT ... ON CONFLICT` needs a WHERE in the SELECT, or SQLite parses
        # ON CONFLICT as a join's ON.
        stmt = sqlite.insert(target).from_select(names, source.where(sa.true()))
        others = [n for n in names if n not in keys]
        if not others:
            return stmt.on_conflict_do_nothing(index_elements=keys)
        return stmt.on_conflict_do_update(
            index_elements=keys, set_={n: stmt.excluded[n] for n in others}
        )

    def key_ddl(self, table: sa.Table, keys: list[str], dialect: Any) -> str:
        # SQLite adds no primary key to an existing table; a unique index serves ON CONFLICT.
        preparer = dialect.identifier_preparer
        index = preparer.quote(f"{table.name}_hygge_key")
        prefix = f"{preparer.quote_schema(table.schema)}." if table.schema else ""
        columns = ", ".join(preparer.quote(k) for k in keys)
        return f"CREATE UNIQUE INDEX {prefix}{index} ON {preparer.quote(table.name)} ({columns})"

    def widen(self, table: sa.Table, column: str, new_type: Any, dialect: Any) -> str:
        raise PermanentError(
            f"SQLite cannot change the declared type of column '{column}' in place; "
            "keep the old type in the home, or drop the table to start over"
        )

    @contextlib.contextmanager
    def lock(self, key: str, what: str) -> Iterator[None]:
        """An exclusive lock file in the temp directory, named after the database and flow,
        removed again when the run ends."""
        if self.path == ":memory:":
            yield
            return
        with _lock_file(_lock_path(self.path, key), what):
            yield


def _lock_path(database: str, key: str) -> str:
    ident = hashlib.sha256(f"{os.path.realpath(database)}\0{key}".encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"hygge-sqlite-{ident}.lock")


@contextlib.contextmanager
def _lock_file(path: str, what: str | None) -> Iterator[None]:
    """Hold an exclusive lock on file `path`, and remove the file when done. With `what`, a
    lock held elsewhere fails at once naming it; without, this waits for its turn."""
    while True:
        handle = open(path, "a+")  # noqa: SIM115 - held open until the lock is released
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (fcntl.LOCK_NB if what else 0))
        except BlockingIOError:
            handle.close()
            raise PermanentError(
                f"{what}: another hygge run of this flow is writing this table; "
                "wait for it to finish"
            ) from None
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(handle.fileno()).st_ino:
            break
        handle.close()  # the previous holder removed it meanwhile: lock the new one
    try:
        yield
    finally:
        # Unlinked while still locked: a process waiting on this file finds it gone
        # and takes a fresh one (above), so no two holders ever both have it.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


_SENTINELS = {
    pa.int64(): "0",
    pa.float64(): "0.0",
    pa.string(): "''",
    pa.binary(): "x''",
}


def _with_sentinel(stmt: sa.Select[Any], columns: list[Column], backend: SqliteBackend) -> Any:
    """`SELECT 1, <typed values> UNION ALL SELECT 0, <columns> ...`: see `read`."""
    # Select is variadic over its columns' types (SQLAlchemy 2.1): any number of them.
    sentinel: sa.Select[*tuple[Any, ...]] = sa.select(
        sa.literal_column("1").label("_hygge_sentinel"),
        *(
            sa.literal_column(_SENTINELS.get(backend.fetch_type(c), "''")).label(c.name)
            for c in columns
        ),
    )
    data = sa.select(sa.literal_column("0").label("_hygge_sentinel"), *stmt.selected_columns)
    data = data.select_from(*stmt.get_final_froms())
    if stmt.whereclause is not None:
        data = data.where(stmt.whereclause)
    return sa.union_all(sentinel, data)


@contextlib.contextmanager
def _writer(path: str) -> Iterator[None]:
    """One stager of a database file at a time: this process's threads take turns by a lock,
    other processes on this machine (Dask workers staging units of one flow) by a lock file.
    The busy timeout does not cover this: a transaction that has read the file cannot turn
    writer once another connection committed (WAL answers SQLITE_BUSY at once, without the
    busy handler), so two stagers would fail each other with "database is locked"."""
    key = os.path.realpath(path)
    with _WRITERS_LOCK:
        lock = _WRITERS.setdefault(key, threading.Lock())
    with lock:
        if path == ":memory:":
            yield
            return
        with _lock_file(_lock_path(path, "\0stage"), None):
            yield
