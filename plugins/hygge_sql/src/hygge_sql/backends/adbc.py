"""ADBC connections through the driver manager's own API, not its DB-API module.

`adbc_driver_manager.dbapi` imports `pyarrow.dataset` and, when it is installed, polars
(for result conversions hygge never asks for): about 50 MB of resident memory and 0.2 s
in every process that reads or loads through ADBC, measured here — a fifth of a
PostgreSQL → PostgreSQL run's peak. hygge needs four things from a connection: run a
statement, stream a query's result, bulk-ingest a stream, and a transaction; the
manager's `AdbcConnection` and `AdbcStatement` do each directly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import adbc_driver_manager
import pyarrow as pa

# The error classes are the manager's own; the DB-API module re-exports the same ones.
IntegrityError = adbc_driver_manager.IntegrityError


def connect_postgresql(uri: str) -> Connection:
    """A connection to the PostgreSQL server at libpq `uri`."""
    import adbc_driver_postgresql

    return Connection(adbc_driver_postgresql.connect(uri))


def connect_sqlite(path: str) -> Connection:
    """A connection to the SQLite database file at `path`."""
    import adbc_driver_sqlite

    return Connection(adbc_driver_sqlite.connect(path))


def _parameters(values: Sequence[Any]) -> pa.RecordBatch:
    """Positional parameters as the one-row batch ADBC binds (columns are named by position)."""
    return pa.record_batch([[v] for v in values], names=[str(i) for i in range(len(values))])


class Connection:
    """One ADBC connection in a transaction (not autocommit), closed with its database.

    Use it as a context manager; nothing is committed unless `commit` is called.
    """

    def __init__(self, database: adbc_driver_manager.AdbcDatabase) -> None:
        self._database = database
        try:
            self._conn = adbc_driver_manager.AdbcConnection(database)
        except BaseException:
            database.close()
            raise
        # A driver without transactions commits each statement by itself.
        with contextlib.suppress(adbc_driver_manager.NotSupportedError):
            self._conn.set_autocommit(False)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (rolling back what was not committed) and its database."""
        try:
            self._conn.close()
        finally:
            self._database.close()

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()

    @contextlib.contextmanager
    def _statement(
        self, sql: str | None, params: Sequence[Any] = (), options: dict[str, str] | None = None
    ) -> Iterator[adbc_driver_manager.AdbcStatement]:
        stmt = adbc_driver_manager.AdbcStatement(self._conn)
        try:
            if options:
                stmt.set_options(**options)
            if sql is not None:
                stmt.set_sql_query(sql)
            if params:
                stmt.bind(_parameters(params))
            yield stmt
        finally:
            stmt.close()

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Execute `sql` and return its rows (few: settings, ledger inserts)."""
        with self._statement(sql, params) as stmt:
            handle, _ = stmt.execute_query()
            return pa.RecordBatchReader.from_stream(handle).read_all().to_pylist()

    @contextlib.contextmanager
    def query(
        self, sql: str, params: Sequence[Any] = (), options: dict[str, str] | None = None
    ) -> Iterator[pa.RecordBatchReader]:
        """The result of `sql` as a stream of batches, valid inside the block (the statement
        owns the stream: it is closed on leaving)."""
        with self._statement(sql, params, options) as stmt:
            handle, _ = stmt.execute_query()
            reader = pa.RecordBatchReader.from_stream(handle)
            try:
                yield reader
            finally:
                reader.close()

    def ingest(self, table: str, schema: str | None, data: pa.RecordBatchReader) -> int:
        """Append the stream `data` to the existing `table` (in `schema`, if given)."""
        options = {
            adbc_driver_manager.INGEST_OPTION_TARGET_TABLE: table,
            adbc_driver_manager.INGEST_OPTION_MODE: adbc_driver_manager.INGEST_OPTION_MODE_APPEND,
        }
        if schema is not None:
            options[adbc_driver_manager.StatementOptions.INGEST_TARGET_DB_SCHEMA.value] = schema
        with self._statement(None, options=options) as stmt:
            stmt.bind_stream(data)
            return stmt.execute_update()
