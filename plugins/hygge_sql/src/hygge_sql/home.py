"""The SQL home: a table or a query, streamed as Arrow batches, split by key range on demand."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from hygge_core import FlowContext, Home, HyggeError, PermanentError, Window, WorkUnit
from hygge_core.secrets import mask_url
from hygge_sql.backends import Backend, Binds, backend_for
from hygge_sql.config import SqlHomeConfig, TableName, resolve_url, table_name
from hygge_sql.engines import check_driver, normalize_url
from hygge_sql.errors import guarded
from hygge_sql.reading import (
    range_condition,
    source,
    split_points,
    window_condition,
)
from hygge_sql.types import Column, coerce, from_python

ROWS_PER_UNIT = 1_000_000  # an automatic split aims at units of about this many rows
MAX_AUTO_UNITS = 64


class SqlHome(Home):
    """Reads a table (or the result of a query) of any SQLAlchemy database.

    PostgreSQL and SQLite stream through ADBC (binary COPY for PostgreSQL) straight into
    Arrow; other databases through a server-side cursor. Column types come from the catalog,
    so the batches carry the declared types (see docs/sql.md for the mapping). With `split:`
    the read becomes one work unit per key range, read in parallel. Incremental reads push
    `cursor > last value` into the SELECT as a bound parameter.
    """

    config_model = SqlHomeConfig
    supports_incremental = True
    splits = True  # with `split:`, one unit per key range
    transient = ("_backend",)

    def __init__(self, config: SqlHomeConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: SqlHomeConfig = config
        self._columns: list[Column] | None = None

    @property
    def backend(self) -> Backend:
        """The backend for this home's database, made on first use (per process)."""
        found: Backend | None = getattr(self, "_backend", None)
        if found is None:
            url = normalize_url(resolve_url(self.config, self.context))
            try:
                check_driver(url)
            except PermanentError as exc:
                raise PermanentError(f"{self.where}: {exc}") from None
            found = self._backend = backend_for(url, self.config.pool_size)
        return found

    @property
    def table(self) -> TableName | None:
        """The table read, or None for a `query:`."""
        if self.config.table is None:
            return None
        return table_name(self.config.table, self.config.schema_name)

    @property
    def where(self) -> str:
        """How errors name what this home reads."""
        return f"table '{self.table}'" if self.table is not None else "query"

    @property
    def _secret(self) -> str | None:
        return self.backend.url.password  # type: ignore[return-value]

    def describe(self) -> str:
        try:
            shown = mask_url(self.backend.url.render_as_string(hide_password=False))
        except Exception:  # a broken connection entry must not break a log line
            shown = f"connection '{self.config.connection}'"
        what = str(self.table) if self.table is not None else "query"
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
            for name in wanted:
                if name not in every:
                    raise PermanentError(f"{self.where} has no column '{name}'")
                found[name] = every[name]
        return found

    # ---- plan and read -----------------------------------------------------------------

    def plan(self, window: Window | None) -> list[WorkUnit]:
        base = str(self.table) if self.table is not None else "query"
        split = self.config.split
        if split is None:
            return [WorkUnit(id=base)]
        columns = self._lookup(split.column, window.cursor if window else None)
        column = columns[split.column]
        if column.as_text or not (
            pa.types.is_integer(column.arrow)
            or pa.types.is_timestamp(column.arrow)
            or pa.types.is_date(column.arrow)
        ):
            raise PermanentError(
                f"{self.where}: cannot split on '{split.column}' ({column.arrow}); "
                "split on an integer, date or timestamp column"
            )
        backend = self.backend
        src = source(self.table, self.config.query, list(columns))
        binds = Binds(backend)
        condition = window_condition(src, window, columns, binds)
        key = src.c[split.column]
        stmt = sa.select(sa.func.min(key), sa.func.max(key)).select_from(src)
        if condition is not None:
            stmt = stmt.where(condition)
        with guarded(self.where, self._secret), backend.engine.connect() as conn:
            low, high = conn.execute(stmt).one()
            rows = None
            if split.units is None or low is not None:
                rows = backend.estimate_rows(conn, src, condition)
        if low is None:  # nothing but NULL keys (or nothing at all) in the window
            return [WorkUnit(id=base, estimated_rows=rows)]
        fetched = from_python([low, high], backend.fetch_type(column), split.column)
        low, high = coerce(fetched, column.arrow, split.column).to_pylist()
        units = split.units or min(MAX_AUTO_UNITS, max(1, math.ceil((rows or 0) / ROWS_PER_UNIT)))
        bounds = [None, *split_points(low, high, units, column.arrow), None]
        count = len(bounds) - 1
        if count == 1:
            return [WorkUnit(id=base, estimated_rows=rows)]
        per_unit = rows // count if rows is not None else None
        return [
            WorkUnit(
                id=f"{base}#{split.column}[{_show(bounds[i])},{_show(bounds[i + 1])})",
                payload={
                    "split": split.column,
                    "lo": bounds[i],
                    "hi": bounds[i + 1],
                    "nulls": i == 0,
                },
                estimated_rows=per_unit,
            )
            for i in range(count)
        ]

    def read(self, unit: WorkUnit) -> Iterator[pa.RecordBatch]:
        columns = self.columns()
        window = unit.window
        lookup = self._lookup(unit.payload.get("split"), window.cursor if window else None)
        backend = self.backend
        binds = Binds(backend, server=True)
        src = source(self.table, self.config.query, list(lookup))
        stmt = sa.select(*(backend.read_expr(src.c[c.name], c) for c in columns)).select_from(src)
        for condition in (
            window_condition(src, window, lookup, binds),
            range_condition(src, unit.payload, lookup, binds),
        ):
            if condition is not None:
                stmt = stmt.where(condition)
        try:
            yield from backend.read(stmt, binds, columns, self.config.batch_rows, self.where)
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
