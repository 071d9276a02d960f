"""The Delta home: a table read as of one version, one work unit per data file.

The version is pinned when the run plans, so every unit reads the same snapshot even while
writers commit. Units are the data files the log references (plain data: path, size,
partition values), read with Arrow directly, so a unit runs on any executor. Files whose
statistics prove that no row passes the incremental window are skipped at plan time.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Iterator
from functools import cached_property
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

from hygge_core import (
    FlowContext,
    Home,
    PermanentError,
    Window,
    WorkUnit,
    first_line,
)
from hygge_delta.config import DeltaHomeConfig
from hygge_delta.location import TablePlace

# Reader features whose data a plain Parquet read would get wrong.
_UNSUPPORTED = {
    "deletionVectors": "deleted rows live in deletion vectors",
    "columnMapping": "columns are stored under physical names",
}
_OPS = {
    "=": pc.equal,
    "==": pc.equal,
    "!=": pc.not_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
}


class DeltaHome(TablePlace, Home):
    """Reads a Delta table (see the module docstring); `version:`/`as_of:` travel in time,
    `columns:` prunes, `filter:` selects rows, `incremental:` reads rows past a cursor."""

    config_model = DeltaHomeConfig
    supports_incremental = True
    splits = True  # one unit per data file
    transient = ("fs", "root", "afs", "location", "table")

    def __init__(self, config: DeltaHomeConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: DeltaHomeConfig = config
        self.pinned: int | None = None

    @cached_property
    def table(self) -> DeltaTable:
        """The table at the version this run reads (pinned on first use)."""
        version = self.pinned if self.pinned is not None else self.config.version
        try:
            table = DeltaTable(
                self.location.uri, version=version, storage_options=self.location.options
            )
            if self.pinned is None and self.config.as_of is not None:
                table.load_as_version(dt.datetime.fromisoformat(self.config.as_of))
        except TableNotFoundError:
            raise PermanentError(f"no Delta table at {self.config.path}") from None
        except (DeltaError, ValueError) as exc:
            raise PermanentError(f"delta table {self.config.path}: {first_line(exc)}") from None
        features = set(table.protocol().reader_features or [])
        for feature, why in _UNSUPPORTED.items():
            if feature in features:
                raise PermanentError(
                    f"delta table {self.config.path} uses {feature} ({why}), which "
                    "hygge-delta does not read yet; rewrite the table without it (OPTIMIZE "
                    "with purge) or read it through a SQL engine"
                )
        self.pinned = table.version()
        return table

    def describe(self) -> str:
        return f"delta {self.config.path}"

    def check(self) -> str | None:
        try:
            self.table  # noqa: B018 - opening the log is the check
        except PermanentError as exc:
            return str(exc)
        return None

    @cached_property
    def full_schema(self) -> pa.Schema:
        """Every column of the table, as Arrow types."""
        return pa.schema(self.table.schema().to_arrow()).remove_metadata()

    @cached_property
    def partitions(self) -> list[str]:
        return list(self.table.metadata().partition_columns)

    def schema(self) -> pa.Schema:
        full = self.full_schema
        if not self.config.columns:
            return full
        missing = [c for c in self.config.columns if c not in full.names]
        if missing:
            raise PermanentError(
                f"column(s) {', '.join(missing)} not in the Delta table {self.config.path}; "
                f"columns: {', '.join(full.names)}"
            )
        return pa.schema([full.field(c) for c in self.config.columns])

    def plan(self, window: Window | None) -> list[WorkUnit]:
        self._filter()  # a bad filter fails here, on the driver, not in every unit
        actions = pa.table(self.table.get_add_actions(flatten=True))
        rows = actions.to_pylist()
        units = []
        for row in sorted(rows, key=lambda r: r["path"]):
            if not _may_match(row, window):
                continue
            values = {n: row.get(f"partition.{n}") for n in self.partitions}
            units.append(
                WorkUnit(
                    id=f"v{self.pinned}:{row['path']}",
                    payload={"path": row["path"], "partitions": values, "version": self.pinned},
                    estimated_rows=row.get("num_records"),
                    estimated_bytes=row.get("size_bytes"),
                )
            )
        return units

    def read(self, unit: WorkUnit) -> Iterator[pa.RecordBatch]:
        wanted = self.schema()
        full = self.full_schema
        window = unit.window
        expression = self._filter()
        if window is not None and window.after is not None:
            bound = pa.scalar(window.after, type=full.field(window.cursor).type)
            after = pc.field(window.cursor) > bound
            expression = after if expression is None else expression & after
        needed = list(wanted.names)
        for name in _referenced_columns(self.config.filter, window):
            if name not in needed:
                needed.append(name)
        in_file = [n for n in needed if n not in self.partitions]
        path = posixpath.join(self.root, unquote(unit.payload["path"]))
        try:
            pf = pq.ParquetFile(self.afs.open_input_file(path), pre_buffer=False)
        except FileNotFoundError:
            raise PermanentError(
                f"delta table {self.config.path}: data file {unit.payload['path']} of version "
                f"{unit.payload['version']} is gone (vacuumed?)"
            ) from None
        present = set(pf.schema_arrow.names)
        for batch in pf.iter_batches(
            batch_size=self.config.batch_rows,
            columns=[n for n in in_file if n in present],
            use_threads=False,
        ):
            columns = []
            for name in needed:
                t = full.field(name).type
                if name in self.partitions:
                    value = unit.payload["partitions"].get(name)
                    columns.append(pa.repeat(pa.scalar(value, type=t), batch.num_rows))
                elif name in present:
                    column = batch.column(name)
                    columns.append(column if column.type == t else column.cast(t))
                else:  # a column added to the table after this file was written
                    columns.append(pa.nulls(batch.num_rows, type=t))
            table = pa.Table.from_arrays(columns, schema=pa.schema([full.field(n) for n in needed]))
            if expression is not None:
                table = table.filter(expression)
            if table.num_rows:
                yield from table.select(wanted.names).to_batches()

    def _filter(self) -> pads.Expression | None:
        """The `filter:` option as an Arrow expression (values cast to the columns' types)."""
        if not self.config.filter:
            return None
        full = self.full_schema
        expression = None
        for column, op, value in self.config.filter:
            if column not in full.names:
                raise PermanentError(
                    f"filter: column '{column}' is not in the Delta table {self.config.path}"
                )
            t = full.field(column).type
            try:
                if op in ("in", "not in"):
                    values = pa.array(value if isinstance(value, list) else [value]).cast(t)
                    test = pc.field(column).isin(values)
                    test = ~test if op == "not in" else test
                elif op in _OPS:
                    test = _OPS[op](pc.field(column), pa.scalar(value).cast(t))
                else:
                    raise PermanentError(
                        f"filter: unknown operator '{op}' on column '{column}'; use one of "
                        + ", ".join([*_OPS, "in", "not in"])
                    )
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError) as exc:
                raise PermanentError(
                    f"filter: value {value!r} does not fit column '{column}' ({t}): "
                    + first_line(exc)
                ) from None
            expression = test if expression is None else expression & test
        return expression


def _referenced_columns(
    filters: list[tuple[str, str, object]] | None, window: Window | None
) -> list[str]:
    names = [c for c, _, _ in filters or []]
    if window is not None:
        names.append(window.cursor)
    return names


def _may_match(row: dict[str, Any], window: Window | None) -> bool:
    """False only when the file's statistics prove no row is past the window."""
    if window is None or window.after is None:
        return True
    high = row.get(f"max.{window.cursor}")
    if high is None:
        return True
    try:
        return bool(high > window.after)
    except TypeError:  # a bound of another kind (naive vs aware): read the file
        return True
