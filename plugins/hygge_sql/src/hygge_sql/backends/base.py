"""How hygge talks to a database through SQLAlchemy alone: the path every dialect has.

A `Backend` knows a database's types, how to read a SELECT as Arrow batches, how to bulk-load
a staging table, how to upsert and how to lock a flow. This base class does all of it with
plain SQLAlchemy (server-side cursors, executemany); PostgreSQL, SQLite and MariaDB/MySQL
override the parts they do faster or differently.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from hygge_core import PermanentError
from hygge_sql import engines
from hygge_sql.config import TableName
from hygge_sql.errors import guarded
from hygge_sql.types import Column, arrow_for_sqlalchemy, canonical, coerce, from_python


@dataclass(frozen=True)
class Ledger:
    """The table where units loading into a shared staging table record themselves, so a
    unit run twice (a Dask task retried after its worker vanished) is loaded once."""

    table: sa.Table
    seq: int

    def insert(self) -> sa.Insert:
        """The statement recording this unit."""
        return sa.insert(self.table).values(seq=self.seq)


class AlreadyLoaded(Exception):
    """The ledger already holds this unit."""


def drain(batches: Iterable[pa.RecordBatch]) -> None:
    """Read a batch stream to its end (the counts core keeps come from reading it)."""
    for _ in batches:
        pass


class Binds:
    """The parameters of one statement. Values reach the database bound, never as SQL text.

    `server` is False for statements SQLAlchemy executes, True for a backend's own fast
    reader (which may bind differently, e.g. PostgreSQL's COPY takes no parameters).
    """

    def __init__(self, backend: Backend, *, server: bool = False) -> None:
        self.backend = backend
        self.server = server
        self.values: list[Any] = []

    def __call__(self, value: Any, arrow: pa.DataType) -> sa.ColumnElement[Any]:
        """A placeholder for `value`, a value of a column of Arrow type `arrow`."""
        return self.backend.bind(self, value, arrow)


class Backend:
    """Generic SQLAlchemy behaviour; subclasses refine it per dialect."""

    name: ClassVar[str] = "generic"
    transactional_ddl: ClassVar[bool] = True
    # A first load may publish by renaming the run's staging table into place (needs DDL
    # inside the transaction that also writes the state row).
    renames: ClassVar[bool] = False
    staging_prefixes: ClassVar[tuple[str, ...]] = ()
    table_kwargs: ClassVar[dict[str, Any]] = {}
    # Whether a float column keeps NaN and -0.0 as they are (SQLite turns them into NULL
    # and 0.0; the store refuses them there unless `lossy_floats: true`).
    keeps_special_floats: ClassVar[bool] = True

    def __init__(self, url: URL, pool_size: int | None = None) -> None:
        self.url = url
        self.pool_size = pool_size

    def space_hint(self) -> str:
        """What to free when the database ran out of disk space (said with the error)."""
        return "free disk space on the database server, then re-run"

    def reclaim_space(self) -> None:
        """Give the disk back what dropped staging tables took (a no-op where the server
        manages its own files)."""

    @property
    def engine(self) -> Engine:
        """The process's engine for this database."""
        return engines.engine(self.url, self.pool_size)

    @contextlib.contextmanager
    def writing(self) -> Iterator[Connection]:
        """A connection in a write transaction. SQLite begins it IMMEDIATE: it waits for
        another writer up front, where a read transaction turning into a write would fail
        at once with "database is locked"."""
        with self.engine.connect().execution_options(hygge_write=True) as conn, conn.begin():
            yield conn

    # ---- types -------------------------------------------------------------------------

    def arrow_type(self, sql_type: Any) -> tuple[pa.DataType, bool]:
        """(Arrow type, read as text?) for a column type the database reports."""
        return arrow_for_sqlalchemy(sql_type)

    def storage_arrow(self, t: pa.DataType) -> pa.DataType:
        """What a canonical Arrow type becomes before it is loaded into a table."""
        if pa.types.is_unsigned_integer(t):
            return {8: pa.int16(), 16: pa.int32(), 32: pa.int64()}.get(
                t.bit_width, pa.decimal128(20, 0)
            )
        if t == pa.int8():
            return pa.int16()
        return t

    def ddl_type(self, t: pa.DataType) -> Any:
        """The column type hygge creates for storage Arrow type `t`."""
        t = self.storage_arrow(t)
        if pa.types.is_boolean(t):
            return sa.Boolean()
        if pa.types.is_integer(t):
            return {16: sa.SmallInteger(), 32: sa.Integer()}.get(t.bit_width, sa.BigInteger())
        if pa.types.is_float32(t):
            return sa.REAL()
        if pa.types.is_floating(t):
            return sa.Double()
        if pa.types.is_decimal(t):
            return sa.Numeric(t.precision, t.scale)
        if pa.types.is_timestamp(t):
            return sa.DateTime(timezone=t.tz is not None)
        if pa.types.is_date(t):
            return sa.Date()
        if pa.types.is_time(t):
            return sa.Time()
        if pa.types.is_binary(t):
            return sa.LargeBinary()
        return sa.Text()

    def key_type(self, t: pa.DataType) -> Any:
        """The column type of a merge key (some databases cannot index their text type)."""
        return self.ddl_type(t)

    def roundtrip(self, t: pa.DataType, column: str) -> pa.DataType:
        """The Arrow type a column of type `t` reads back as, once hygge created it."""
        return self.arrow_type(self.ddl_type(canonical(t, column)))[0]

    def fetch_type(self, column: Column) -> pa.DataType:
        """The Arrow type of what the driver returns for `column`, before `coerce`."""
        return pa.string() if column.as_text else column.arrow

    def storage_value(self, value: Any, arrow: pa.DataType) -> Any:
        """A Python value as the database compares it with a column of type `arrow`."""
        return value

    def read_expr(self, expr: sa.ColumnElement[Any], column: Column) -> sa.ColumnElement[Any]:
        """The SELECT-list expression that reads `column`."""
        if column.as_text:
            return sa.cast(expr, sa.Text()).label(column.name)
        return expr.label(column.name)

    def publish_expr(self, staged: sa.ColumnElement[Any], target_type: Any) -> Any:
        """A staging column as the target column's type, for INSERT ... SELECT."""
        return staged

    # ---- catalog -----------------------------------------------------------------------

    def qualify(self, table: TableName) -> TableName:
        """`table` as this database names it; a PermanentError for a schema it cannot have."""
        return table

    def ensure_database(self) -> None:
        """Make what a store needs before it connects (a SQLite file's folder)."""

    def missing_database(self) -> str | None:
        """Why there is nothing to read at all (a database file that does not exist)."""
        return None

    def table_columns(self, conn: Connection, table: TableName) -> list[Column] | None:
        """The table's columns, or None if it does not exist."""
        inspector = sa.inspect(conn)
        if not inspector.has_table(table.name, schema=table.schema):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sa.exc.SAWarning)  # "did not recognize type ..."
            found = inspector.get_columns(table.name, schema=table.schema)
        return [Column(c["name"], *self.arrow_type(c["type"])) for c in found]

    def query_columns(self, conn: Connection, query: str, sample: int) -> list[Column]:
        """The columns of a SELECT: generic dialects tell no types, so infer from its rows."""
        result = conn.execute(sa.text(query_text(query)))
        names = list(result.keys())
        rows = result.fetchmany(sample)
        result.close()
        columns = []
        for i, name in enumerate(names):
            values = [r[i] for r in rows]
            try:
                inferred = pa.array(values).type
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                inferred = pa.string()
            if pa.types.is_null(inferred):
                inferred = pa.string()
            columns.append(Column(name, canonical(inferred, name)))
        return columns

    def table_names(self, conn: Connection, schema: str | None) -> list[str]:
        """Every table in `schema`."""
        return sa.inspect(conn).get_table_names(schema=schema)

    def has_unique(self, conn: Connection, table: TableName, keys: list[str]) -> bool:
        """Whether a primary key or unique index covers exactly `keys` (upserts need one)."""
        inspector = sa.inspect(conn)
        wanted = set(keys)
        pk = inspector.get_pk_constraint(table.name, schema=table.schema)
        if set(pk.get("constrained_columns") or []) == wanted:
            return True
        for uc in inspector.get_unique_constraints(table.name, schema=table.schema):
            if set(uc["column_names"]) == wanted:
                return True
        for ix in inspector.get_indexes(table.name, schema=table.schema):
            if ix.get("unique") and set(ix["column_names"]) == wanted:
                return True
        return False

    def estimate_rows(self, conn: Connection, source: sa.FromClause, where: Any) -> int:
        """Roughly how many rows a read covers (sizes the automatic split)."""
        stmt = sa.select(sa.func.count()).select_from(source)
        if where is not None:
            stmt = stmt.where(where)
        return int(conn.execute(stmt).scalar() or 0)

    # ---- data --------------------------------------------------------------------------

    def bind(self, binds: Binds, value: Any, arrow: pa.DataType) -> sa.ColumnElement[Any]:
        """A bound parameter for `value` (see `Binds`)."""
        stored = self.storage_value(value, arrow)
        binds.values.append(stored)
        return sa.bindparam(f"hygge_p{len(binds.values) - 1}", stored)

    def read(
        self,
        stmt: sa.Select[Any],
        binds: Binds,
        columns: list[Column],
        batch_rows: int,
        where: str,
        snapshot: str | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Stream `stmt` as batches of `columns` through a server-side cursor; `snapshot`
        (PostgreSQL) reads as of an exported snapshot (`pg_export_snapshot`)."""
        schema = pa.schema([(c.name, c.arrow) for c in columns])
        fetch = [self.fetch_type(c) for c in columns]
        with guarded(where), self.engine.connect() as conn:
            for statement in snapshot_statements(snapshot):
                conn.exec_driver_sql(statement)
            result = conn.execution_options(yield_per=batch_rows).execute(stmt)
            for rows in result.partitions(batch_rows):
                values = list(zip(*rows, strict=True))
                arrays = [
                    coerce(from_python(list(v), f, c.name), c.arrow, c.name)
                    for v, f, c in zip(values, fetch, columns, strict=True)
                ]
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    def stage(
        self,
        staging: sa.Table,
        batches: Iterable[pa.RecordBatch],
        schema: pa.Schema,
        batch_rows: int,
        where: str,
        ledger: Ledger | None = None,
    ) -> bool:
        """Load `batches` (storage form, columns named like the staging table's) into
        `staging`, (re)created first — or, with a `ledger`, into a table the run's units
        share, recording the unit in the ledger in the same transaction. Returns False,
        having read `batches` to the end, when the ledger shows the unit already loaded."""
        with guarded(where):
            if ledger is None:
                with self.writing() as conn:
                    staging.drop(conn, checkfirst=True)
                    staging.create(conn)
            insert = staging.insert()
            writer = self.engine.connect().execution_options(hygge_write=True)
            try:
                with writer as conn, conn.begin():
                    if ledger is not None:
                        try:
                            conn.execute(ledger.insert())
                        except sa.exc.IntegrityError:
                            raise AlreadyLoaded from None
                    for batch in batches:
                        for start in range(0, batch.num_rows, batch_rows):
                            conn.execute(insert, batch.slice(start, batch_rows).to_pylist())
            except AlreadyLoaded:
                drain(batches)
                return False
        return True

    def create_staging(self, *tables: sa.Table) -> None:
        """(Re)create staging tables that a run's units share."""
        with self.writing() as conn:
            for table in tables:
                table.drop(conn, checkfirst=True)
                table.create(conn)

    def upsert(
        self, target: sa.Table, names: list[str], keys: list[str], source: sa.Select[Any]
    ) -> Any | None:
        """An INSERT ... ON CONFLICT-style statement, or None to UPDATE then INSERT."""
        return None

    def key_ddl(self, table: sa.Table, keys: list[str], dialect: Any) -> str:
        """The statement that makes `keys` the table's key (after a first load by rename)."""
        preparer = dialect.identifier_preparer
        columns = ", ".join(preparer.quote(k) for k in keys)
        return f"ALTER TABLE {preparer.format_table(table)} ADD PRIMARY KEY ({columns})"

    def widen(self, table: sa.Table, column: str, new_type: Any, dialect: Any) -> str:
        """The ALTER TABLE statement that widens `column` to `new_type`."""
        preparer = dialect.identifier_preparer
        return (
            f"ALTER TABLE {preparer.format_table(table)} ALTER COLUMN "
            f"{preparer.quote(column)} TYPE {new_type.compile(dialect=dialect)}"
        )

    @contextlib.contextmanager
    def lock(self, key: str, what: str) -> Iterator[None]:
        """Keep a second hygge process off the same flow and table; generic: no lock."""
        yield


def snapshot_statements(snapshot: str | None) -> list[str]:
    """What a transaction runs first to read as of the exported `snapshot` (none: [])."""
    if snapshot is None:
        return []
    if not all(c.isalnum() or c == "-" for c in snapshot):  # it is quoted into the SQL
        raise PermanentError(f"'{snapshot}' is not a snapshot id")
    return [
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        f"SET TRANSACTION SNAPSHOT '{snapshot}'",
    ]


def query_text(query: str) -> str:
    """A user's SELECT made ready to nest in hygge's SQL: trailing semicolons dropped, a
    newline added (a trailing `-- comment` must not swallow what follows), and colons
    escaped so that `::int` casts and `':x'` strings are not taken for parameters."""
    text = query.strip().rstrip(";").rstrip()
    return text.replace(":", "\\:") + "\n"


def execute_sql(conn: Connection, sql: str) -> None:
    """Run a statement hygge assembled from quoted identifiers and compiled types.

    Colons are escaped so SQLAlchemy sees no parameters in identifiers that contain one.
    """
    conn.execute(sa.text(sql.replace(":", "\\:")))
