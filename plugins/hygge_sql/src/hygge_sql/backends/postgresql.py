"""PostgreSQL: ADBC reads and psycopg loads, both through binary COPY; psycopg for the rest.

Reads run `COPY (SELECT ...) TO STDOUT (FORMAT binary)` through ADBC, which decodes straight
into Arrow. COPY takes no parameters, so window and range values are not spliced into the SQL:
they are bound to `set_config('hygge.pN', $1, true)` (transaction-local settings) and the
SELECT reads them back with `current_setting('hygge.pN')`, cast to the column's type.
Loads run `COPY ... FROM STDIN (FORMAT binary)` through psycopg, fed by hygge's own Arrow
encoder (`pgcopy`), into UNLOGGED staging tables. A column it does not encode (a decimal of
negative scale) sends the load through ADBC's bulk ingest, which runs the same COPY.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import functools
import hashlib
import importlib.util
import os
import secrets
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from hygge_core import PermanentError
from hygge_sql import engines
from hygge_sql.backends.base import (
    AlreadyLoaded,
    Backend,
    Binds,
    Ledger,
    drain,
    query_text,
    snapshot_statements,
)
from hygge_sql.backends.ingest import ingest
from hygge_sql.config import TableName
from hygge_sql.errors import guarded, stream
from hygge_sql.types import Column, detach

# Compiles SQL for ADBC: `$n` placeholders, and no doubling of `%` (that is psycopg's style).
_COMPILER = postgresql.dialect(paramstyle="numeric_dollar")


# Rows of a table by the planner's statistics; of a partitioned table, the sum over its leaf
# partitions, or -1 while one of them was never analysed.
_ESTIMATE = """
SELECT CASE WHEN c.relkind <> 'p' THEN c.reltuples ELSE (
    SELECT CASE WHEN bool_or(p.reltuples < 0) THEN -1 ELSE coalesce(sum(p.reltuples), 0) END
    FROM pg_partition_tree(c.oid) AS t JOIN pg_class AS p ON p.oid = t.relid
    WHERE t.isleaf
) END
FROM pg_class AS c WHERE c.oid = to_regclass(:name)
"""


class PostgresBackend(Backend):
    """PostgreSQL 12+ (tested on 15)."""

    name = "postgresql"
    renames = True
    staging_prefixes = ("UNLOGGED",)  # staging needs no WAL: a crash discards it anyway

    @functools.cached_property
    def adbc(self) -> bool:
        """Whether ADBC is there for reads (and for loads COPY cannot encode); asked on first
        use, because importing it costs a third of a second a load does not need."""
        return engines.adbc_available("postgresql")

    @property
    def copies(self) -> bool:
        """Whether loads use hygge's own binary COPY encoder: through psycopg, with numpy
        (both in the `postgres` extra); HYGGE_SQL_COPY=0 loads through ADBC instead."""
        if self.url.get_driver_name() != "psycopg" or os.environ.get("HYGGE_SQL_COPY") == "0":
            return False
        return importlib.util.find_spec("numpy") is not None

    def ddl_type(self, t: pa.DataType) -> Any:
        t = self.storage_arrow(t)
        if pa.types.is_float64(t):
            return postgresql.DOUBLE_PRECISION()
        if pa.types.is_binary(t):
            return postgresql.BYTEA()
        if pa.types.is_timestamp(t):
            return postgresql.TIMESTAMP(timezone=t.tz is not None)
        if pa.types.is_time(t):
            return postgresql.TIME()
        return super().ddl_type(t)

    def publish_expr(self, staged: sa.ColumnElement[Any], target_type: Any) -> Any:
        # Text goes into json, uuid, enum or interval columns only by an explicit cast. Other
        # columns take PostgreSQL's assignment casts, which refuse what does not fit; an
        # explicit cast would silently cut a string to a varchar(n).
        if isinstance(target_type, sa.types.NullType) or not self.arrow_type(target_type)[1]:
            return staged
        return sa.cast(staged, target_type)

    def query_columns(self, conn: Connection, query: str, sample: int) -> list[Column]:
        """A temporary view over the query, reflected like a table, then rolled back: the
        view's columns carry the exact types (numeric precision included)."""
        name = f"_hygge_q_{secrets.token_hex(6)}"
        with conn.begin() as tx:
            view = conn.dialect.identifier_preparer.quote(name)
            conn.execute(sa.text(f"CREATE TEMPORARY VIEW {view} AS {query_text(query)}"))
            temp = conn.execute(
                sa.text("SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()")
            ).scalar_one()
            found = self.table_columns(conn, TableName(name, temp))
            tx.rollback()
        assert found is not None
        return found

    def estimate_rows(self, conn: Connection, source: sa.FromClause, where: Any) -> int:
        if where is None and isinstance(source, sa.TableClause):
            # The planner's estimate: instant, where count(*) scans the table. A table never
            # analysed reports -1: count it then. A partitioned table holds no rows itself
            # (its own estimate stays -1): its partitions' estimates add up.
            name = conn.dialect.identifier_preparer.format_table(source)
            estimate = conn.execute(sa.text(_ESTIMATE), {"name": name}).scalar()
            if estimate is not None and estimate >= 0:
                return int(estimate)
        return super().estimate_rows(conn, source, where)

    def bind(self, binds: Binds, value: Any, arrow: pa.DataType) -> sa.ColumnElement[Any]:
        if not (binds.server and self.adbc):
            return super().bind(binds, value, arrow)
        binds.values.append(_setting_text(value))
        setting: sa.ColumnElement[Any] = sa.literal_column(
            f"current_setting('hygge.p{len(binds.values) - 1}')"
        )
        return sa.cast(setting, self.ddl_type(arrow))

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
        from hygge_sql.backends import adbc

        sql = str(stmt.compile(dialect=_COMPILER))
        schema = pa.schema([(c.name, c.arrow) for c in columns])
        uri = engines.adbc_postgres_uri(self.url)
        with guarded(where), adbc.connect_postgresql(uri) as conn:
            for statement in snapshot_statements(snapshot):  # before any other statement
                conn.run(statement)
            if binds.values:
                calls = ", ".join(
                    f"set_config('hygge.p{i}', ${i + 1}, true)" for i in range(len(binds.values))
                )
                conn.run(f"SELECT {calls}", binds.values)
            with conn.query(sql) as reader:
                for batch in stream(reader, where, self.url.password):
                    yield detach(batch, schema)

    def stage(
        self,
        staging: sa.Table,
        batches: Iterable[pa.RecordBatch],
        schema: pa.Schema,
        batch_rows: int,
        where: str,
        ledger: Ledger | None = None,
    ) -> bool:
        if self.copies:
            from hygge_sql.backends import pgcopy

            if pgcopy.encodable(schema):
                return self._copy(staging, batches, schema, where, ledger)
        if not self.adbc:
            return super().stage(staging, batches, schema, batch_rows, where, ledger)
        from hygge_sql.backends import adbc

        with guarded(where), adbc.connect_postgresql(engines.adbc_postgres_uri(self.url)) as conn:
            return ingest(conn, staging, batches, schema, ledger, _COMPILER, _slices)

    def _copy(
        self,
        staging: sa.Table,
        batches: Iterable[pa.RecordBatch],
        schema: pa.Schema,
        where: str,
        ledger: Ledger | None,
    ) -> bool:
        """`stage` through psycopg's binary COPY, fed by hygge's own encoder (`pgcopy`)."""
        from hygge_sql.backends import pgcopy

        preparer = self.engine.dialect.identifier_preparer
        names = [c.name for c in staging.columns]
        columns = ", ".join(preparer.quote(names[i]) for i in pgcopy.order(schema))
        sql = f"COPY {preparer.format_table(staging)} ({columns}) FROM STDIN (FORMAT binary)"
        with guarded(where):
            writer = self.engine.connect().execution_options(hygge_write=True)
            try:
                with writer as conn, conn.begin():
                    if ledger is None:
                        staging.drop(conn, checkfirst=True)
                        staging.create(conn)
                    else:
                        try:
                            conn.execute(ledger.insert())
                        except sa.exc.IntegrityError:
                            raise AlreadyLoaded from None
                    driver = conn.connection.driver_connection
                    assert driver is not None
                    with driver.cursor() as cursor:
                        pgcopy.copy(cursor, sql, batches)
            except AlreadyLoaded:
                drain(batches)
                return False
        return True

    def upsert(
        self, target: sa.Table, names: list[str], keys: list[str], source: sa.Select[Any]
    ) -> Any:
        stmt = postgresql.insert(target).from_select(names, source)
        others = [n for n in names if n not in keys]
        if not others:
            return stmt.on_conflict_do_nothing(index_elements=keys)
        return stmt.on_conflict_do_update(
            index_elements=keys, set_={n: stmt.excluded[n] for n in others}
        )

    @contextlib.contextmanager
    def lock(self, key: str, what: str) -> Iterator[None]:
        """A session advisory lock, held on its own connection for the whole run."""
        number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        with guarded(what):
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            with guarded(what):
                got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(number))).scalar()
            if not got:
                raise PermanentError(
                    f"{what}: another hygge run of this flow is writing this table; "
                    "wait for it to finish"
                )
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    conn.execute(sa.select(sa.func.pg_advisory_unlock(number)))
        finally:
            conn.close()


# Rows per batch handed to ADBC's COPY writer: it encodes a whole batch before sending it,
# so large batches cost memory (about 45MB per concurrent load at 131,072 rows) for no speed.
COPY_ROWS = 32_768


def _slices(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        for start in range(0, batch.num_rows, COPY_ROWS):
            yield batch.slice(start, COPY_ROWS)


def _setting_text(value: Any) -> str:
    """A value as text PostgreSQL casts back exactly (the input syntax of its type)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time | decimal.Decimal | int | str):
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    raise PermanentError(f"cannot compare a column with a value of type {type(value).__name__}")
