"""The SQL home: a table or a query, streamed as Arrow batches, split by key range."""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hygge_core import FlowContext, Home, HyggeError, PermanentError, Window, WorkUnit, mask_url
from hygge_sql.backends import Binds
from hygge_sql.config import SqlConnection, SqlHomeConfig, TableName, table_name
from hygge_sql.database import OnDatabase
from hygge_sql.errors import guarded
from hygge_sql.reading import (
    ceiling_condition,
    range_condition,
    source,
    split_points,
    window_condition,
)
from hygge_sql.splitkey import ROWID, ROWID_COLUMN, primary_key, splittable
from hygge_sql.types import Column, coerce, from_python

# A split aims at units of about this many rows (HYGGE_SQL_SPLIT_ROWS overrides it). A table
# splits by itself from twice that: one core reads a million rows in about a second, less
# than what more files, connections and the planning queries would be worth.
ROWS_PER_UNIT = 1_000_000
MAX_AUTO_UNITS = 64


def rows_per_unit() -> int:
    """The rows a split aims at per unit: HYGGE_SQL_SPLIT_ROWS, else ROWS_PER_UNIT."""
    text = os.environ.get("HYGGE_SQL_SPLIT_ROWS", "").strip()
    if not text:
        return ROWS_PER_UNIT
    if not text.isdigit() or int(text) < 1:
        raise PermanentError(f"HYGGE_SQL_SPLIT_ROWS must be a positive integer, not '{text}'")
    return int(text)


# Hosts that put a database server on this machine: its backend processes then compete with
# hygge's readers for the same cores.
LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1"})


def server_is_local(url: sa.URL) -> bool:
    """Whether `url` names a server on this machine (a loopback host or a Unix socket)."""
    if url.get_backend_name() == "sqlite":
        return False  # no server: the reads run inside hygge
    host = url.host or url.query.get("host") or ""
    if isinstance(host, tuple):  # ?host=a&host=b: a list of candidates
        host = host[0] if host else ""
    return host.lower() in LOCAL_HOSTS or host.startswith("/")


def parallel_readers(local_server: bool) -> int:
    """How many key ranges can be read at once to gain: one per core, but one per two cores
    when the server is local, since each read keeps a server process about as busy as the
    reader (on 2 cores, two split readers of a local PostgreSQL ran 1.3x slower than one)."""
    cores = os.cpu_count() or 1
    return max(1, cores // 2) if local_server else cores


def auto_units(rows: int, per: int, readers: int) -> int:
    """Units of about `per` rows, as many as a multiple of the `readers` when that keeps
    them over half that size: 5 units on 2 readers would leave one idle for the last."""
    units = max(1, math.ceil(rows / per))
    balanced = math.ceil(units / readers) * readers
    if balanced != units and rows / balanced >= per / 2:
        units = balanced
    return min(MAX_AUTO_UNITS, units)


class SqlHome(OnDatabase, Home):
    """Reads a table (or the result of a query) of any SQLAlchemy database.

    PostgreSQL and SQLite stream through ADBC (binary COPY for PostgreSQL) straight into
    Arrow; other databases through a server-side cursor. Column types come from the catalog,
    so the batches carry the declared types (see docs/sql.md for the mapping). A table of
    at least twice `rows_per_unit()` rows read through ADBC splits by itself on its primary
    key (SQLite: or its rowid); `split:` names the key and the units, `split: false` reads
    one unit. Units are key ranges, read in parallel. Incremental reads push
    `cursor > last value` into the SELECT as a bound parameter.
    """

    config_model = SqlHomeConfig
    connection_model = SqlConnection
    supports_incremental = True
    splits = True  # one unit per key range
    transient = ("_backend",)

    def __init__(self, config: SqlHomeConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: SqlHomeConfig = config
        self._columns: list[Column] | None = None

    @property
    def named(self) -> TableName | None:
        """The table read as the config names it, or None for a `query:`."""
        if self.config.table is None:
            return None
        return table_name(self.config.table, self.config.schema_name)

    @property
    def table(self) -> TableName | None:
        """The table read as the database names it, or None for a `query:`."""
        named = self.named
        return None if named is None else self.backend.qualify(named)

    @property
    def where(self) -> str:
        """How errors name what this home reads."""
        return f"table '{self.named}'" if self.named is not None else "query"

    @property
    def _secret(self) -> str | None:
        return self.backend.url.password

    @classmethod
    def entity_names(cls, query: str, home: dict[str, Any], context: FlowContext) -> list[str]:
        """The first column of `query`, run on the template home's database (`url:` or
        `connection:`): what a flow template's `entities: {query: ...}` expands to."""
        from types import SimpleNamespace

        from hygge_sql.backends import backend_for
        from hygge_sql.config import resolve_url
        from hygge_sql.engines import check_driver, normalize_url

        target = SimpleNamespace(url=home.get("url"), connection=home.get("connection"))
        if (target.url is None) == (target.connection is None):
            raise PermanentError(
                "a query of entities runs on the template home's database: give the home "
                "url: or connection: (a name under connections:)"
            )
        url = normalize_url(resolve_url(target, context))  # type: ignore[arg-type]
        check_driver(url)
        backend = backend_for(url, 1)
        with guarded("query", url.password), backend.engine.connect() as conn:
            rows = conn.execute(sa.text(query)).fetchall()
        return [str(row[0]) for row in rows if row and row[0] is not None]

    def describe(self) -> str:
        try:
            shown = mask_url(self.backend.url.render_as_string(hide_password=False))
        except Exception:  # a broken connection entry must not break a log line
            shown = f"connection '{self.config.connection}'"
        what = str(self.named) if self.named is not None else "query"
        return f"sql {shown} {what}"

    # ---- schema ------------------------------------------------------------------------

    def _all_columns(self) -> list[Column]:
        backend = self.backend
        missing = backend.missing_database()
        if missing:
            raise PermanentError(f"{self.where}: {missing}")
        with guarded(self.where, self._secret), backend.engine.connect() as conn:
            if self.table is None:
                assert self.config.query is not None
                return backend.query_columns(conn, self.config.query, 1000)
            found = backend.table_columns(conn, self.table)
            if found is None:
                names = backend.table_names(conn, self.table.schema)
                close = difflib.get_close_matches(self.table.name, names, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise PermanentError(f"{self.where} does not exist{hint}")
            return found

    def columns(self) -> list[Column]:
        """The columns read, in order (the catalog is asked once; the answer pickles)."""
        if self._columns is None:
            every = self._all_columns()
            if self.config.columns:
                by_name = {c.name: c for c in every}
                unknown = [n for n in self.config.columns if n not in by_name]
                if unknown:
                    raise PermanentError(
                        f"{self.where} has no column(s) {', '.join(unknown)}; "
                        f"columns: {', '.join(by_name)}"
                    )
                every = [by_name[n] for n in self.config.columns]
            self._columns = every
        return self._columns

    def schema(self) -> pa.Schema:
        return pa.schema([(c.name, c.arrow) for c in self.columns()])

    def _lookup(self, *extra: str | None) -> dict[str, Column]:
        """The columns read, plus the cursor and split columns even when not selected."""
        found = {c.name: c for c in self.columns()}
        wanted = [n for n in extra if n and n not in found]
        if wanted:
            every = {c.name: c for c in self._all_columns()}
            if self.table is not None and self.backend.name == "sqlite":
                every.setdefault(ROWID, ROWID_COLUMN)  # unless a column of that name hides it
            for name in wanted:
                if name not in every:
                    raise PermanentError(f"{self.where} has no column '{name}'")
                found[name] = every[name]
        return found

    # ---- plan and read -----------------------------------------------------------------

    def plan(self, window: Window | None) -> list[WorkUnit]:
        base = str(self.table) if self.table is not None else "query"
        split = self.config.split
        cursor = window.cursor if window else None
        if split is False or (split is None and not self._splits_automatically()):
            return [WorkUnit(id=base)]
        backend = self.backend
        with guarded(self.where, self._secret), backend.engine.connect() as conn:
            if split is None:
                assert self.table is not None
                name = primary_key(conn, backend.name, self.table)
                if name is None:
                    return [WorkUnit(id=base)]
            else:
                name = split.column
            columns = self._lookup(name, cursor)
            column = columns[name]
            if not splittable(column):
                if split is None:  # a text key: read in one unit
                    return [WorkUnit(id=base)]
                raise PermanentError(
                    f"{self.where}: cannot split on '{name}' ({column.arrow}); "
                    "split on an integer, date or timestamp column"
                )
            src = source(self.table, self.config.query, list(columns))
            condition = window_condition(src, window, columns, Binds(backend))
            low, high = (
                self._bound(conn, src, fn(src.c[name]), condition, column)
                for fn in (sa.func.min, sa.func.max)
            )
            if low is None:  # nothing but NULL keys (or nothing at all) in the window
                return [WorkUnit(id=base)]
            per = rows_per_unit()
            if split is None and pa.types.is_integer(column.arrow) and high - low + 1 < 2 * per:
                # A key holds each value once: fewer values than the threshold, fewer rows.
                return [WorkUnit(id=base)]
            rows = backend.estimate_rows(conn, src, condition)
            if split is None and rows < 2 * per:
                return [WorkUnit(id=base, estimated_rows=rows)]
            wanted = split.units if split is not None else None
            units = wanted or auto_units(rows, per, self._readers())
            bounds = [None, *split_points(low, high, units, column.arrow), None]
            count = len(bounds) - 1
            if count == 1:
                return [WorkUnit(id=base, estimated_rows=rows)]
            ceiling: dict[str, Any] = {}
            if cursor is not None:
                # Units are read one after another, not in one snapshot: a row changed
                # while the run goes could land beyond the cursor a later unit reaches and
                # be skipped for good. Every unit reads up to the cursor's maximum now;
                # rows changed later have a higher cursor and wait for the next run.
                top = high
                if cursor != name:
                    found = columns[cursor]
                    top = self._bound(conn, src, sa.func.max(src.c[cursor]), condition, found)
                if top is not None:
                    ceiling = {"cursor": cursor, "upto": top}
        per_unit = rows // count
        return [
            WorkUnit(
                id=f"{base}#{name}[{_show(bounds[i])},{_show(bounds[i + 1])})",
                payload={
                    "split": name,
                    "lo": bounds[i],
                    "hi": bounds[i + 1],
                    "nulls": i == 0,
                    **ceiling,
                },
                estimated_rows=per_unit,
            )
            for i in range(count)
        ]

    def _splits_automatically(self) -> bool:
        """Whether a read without `split:` may split: a whole table, read by a driver that
        releases the GIL (ADBC), so that units on threads use more than one core, and more
        than one reader can gain."""
        return (
            self.table is not None
            and bool(getattr(self.backend, "adbc", False))
            and self._readers() > 1
        )

    def _readers(self) -> int:
        """Key ranges worth reading at once from this database (see `parallel_readers`)."""
        return parallel_readers(server_is_local(self.backend.url))

    def _bound(
        self,
        conn: Connection,
        src: sa.FromClause,
        aggregate: sa.ColumnElement[Any],
        condition: sa.ColumnElement[bool] | None,
        column: Column,
    ) -> Any | None:
        """min() or max() of a column within the window, as the column's Python value.

        One aggregate per statement: SQLite answers a lone min() or max() from the index
        but scans the whole table for the two together.
        """
        stmt = sa.select(aggregate).select_from(src)
        if condition is not None:
            stmt = stmt.where(condition)
        value = conn.execute(stmt).scalar()
        if value is None:
            return None
        fetched = from_python([value], self.backend.fetch_type(column), column.name)
        return coerce(fetched, column.arrow, column.name)[0].as_py()

    def read(self, unit: WorkUnit) -> Iterator[pa.RecordBatch]:
        columns = self.columns()
        window = unit.window
        lookup = self._lookup(
            unit.payload.get("split"), unit.payload.get("cursor"), window.cursor if window else None
        )
        backend = self.backend
        binds = Binds(backend, server=True)
        src = source(self.table, self.config.query, list(lookup))
        stmt = sa.select(*(backend.read_expr(src.c[c.name], c) for c in columns)).select_from(src)
        for condition in (
            window_condition(src, window, lookup, binds),
            range_condition(src, unit.payload, lookup, binds),
            ceiling_condition(src, unit.payload, lookup, binds),
        ):
            if condition is not None:
                stmt = stmt.where(condition)
        try:
            yield from backend.read(
                stmt,
                binds,
                columns,
                self.config.batch_rows,
                self.where,
                unit.payload.get("snapshot"),
            )
        except PermanentError as exc:  # a value that does not convert names its column only
            if str(exc).startswith(self.where):
                raise
            raise PermanentError(f"{self.where}: {exc}") from None

    def check(self) -> str | None:
        try:
            self.columns()
        except HyggeError as exc:
            return str(exc)
        return None


def _show(value: Any) -> str:
    """A range bound in a unit id: readable and stable."""
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
