"""The Delta home: a table read as of one version, one work unit per data file.

The version is pinned when the run plans, so every unit reads the same snapshot even while
writers commit. Units are the data files the log references (plain data: path, size,
partition values), read with Arrow directly, so a unit runs on any executor. Files whose
statistics prove that no row passes the incremental window are skipped at plan time.

With `incremental_by: version` the home reads the table's change data feed instead: the flow's
state keeps the version each run read up to (`Home.position`, committed with the data), and
the next run reads the changes of the versions after it, up to the one pinned at plan time,
one work unit per version, as a change log in hygge's convention (`hygge_core.changes`):
`_op` (insert, update, delete), `_lsn` (the commit version), `_seq` (the change's place in
its version) and `_commit_ts` (Delta's `_commit_timestamp`, named as postgres_cdc names
it). A flow's first run has no version to start from: it reads the pinned snapshot, every
row an insert at that version, because the feed covers only the versions written while it
was enabled (and not yet vacuumed), while the snapshot is always the sum of every change
before it.
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
    ConfigError,
    FlowContext,
    FlowState,
    Home,
    PermanentError,
    Problem,
    Window,
    WorkUnit,
    changes,
    first_line,
)
from hygge_core.files import leaf_columns, read_buffer, short_round
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
CDF_PROPERTY = "delta.enableChangeDataFeed"
# The change log's columns after the table's own (hygge_core.changes, plus Delta's commit time).
CHANGE_FIELDS = (
    pa.field(changes.OP, pa.string()),
    pa.field("_lsn", pa.int64()),
    pa.field("_seq", pa.int64()),
    pa.field("_commit_ts", pa.timestamp("us", "UTC")),
)
# Delta's `_change_type` → hygge's `_op`; an update's pre-image says nothing a merge needs.
_CHANGE_TYPES = {
    "insert": changes.INSERT,
    "update_postimage": changes.UPDATE,
    "delete": changes.DELETE,
}
# Within one version a key may be deleted and written again (an overwrite): `_seq` puts a
# version's deletes before its inserts and updates, so the key's last change is the write.
# The high bits order the kinds, the low ones keep the feed's order within a kind.
_WRITE_SEQ = 1 << 40


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
        self.since: int | None = None  # `incremental_by: version`: the version read last

    @property
    def by_version(self) -> bool:
        """Whether this home reads the change data feed (`incremental_by: version`)."""
        return self.config.incremental_by == "version"

    def begin(self, state: FlowState | None) -> None:
        position = state.position if state else None
        self.since = None
        if self.by_version and isinstance(position, dict):
            self.since = position.get("version")

    def position(self) -> Any:
        if not self.by_version:
            return None
        self.table  # noqa: B018 - opening the table pins the version
        return {"version": self.pinned}

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
        columns = self._columns()
        return pa.schema([*columns, *CHANGE_FIELDS]) if self.by_version else columns

    def _columns(self) -> pa.Schema:
        """The table's columns this home reads (`columns:`, else all)."""
        full = self.full_schema
        if self.by_version:
            taken = [f.name for f in CHANGE_FIELDS if f.name in full.names]
            if taken:
                raise PermanentError(
                    f"delta table {self.config.path} has column(s) {', '.join(taken)}, which "
                    "incremental_by: version adds to describe each change; rename them"
                )
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
        if self.by_version and self.since is not None:
            return self._plan_changes()
        self._filter()  # a bad filter fails here, on the driver, not in every unit
        actions = pa.table(self.table.get_add_actions(flatten=True))
        rows = actions.to_pylist()
        if self.by_version:
            self._check_feed()  # the next run reads the feed: fail now, not then
        units = []
        for index, row in enumerate(sorted(rows, key=lambda r: r["path"])):
            if not _may_match(row, window):
                continue
            values = {n: row.get(f"partition.{n}") for n in self.partitions}
            payload = {"path": row["path"], "partitions": values, "version": self.pinned}
            if self.by_version:
                payload["file"] = index  # orders the snapshot's rows: `_seq`
            units.append(
                WorkUnit(
                    id=f"v{self.pinned}:{row['path']}",
                    payload=payload,
                    estimated_rows=row.get("num_records"),
                    estimated_bytes=row.get("size_bytes"),
                )
            )
        for unit in short_round(units, self.context.parallelism):
            unit.payload["threads"] = True  # decoded on Arrow's threads
        return units

    # ---- the change data feed ----------------------------------------------------------

    def _check_feed(self) -> None:
        """Fail unless the pinned version of the table records its change data feed.

        A ConfigError naming the field: hygge places it at its line in flows.yaml."""
        enabled = self.table.metadata().configuration.get(CDF_PROPERTY, "false")
        if enabled.lower() != "true":
            raise ConfigError(
                [
                    Problem(
                        f"delta table {self.config.path} does not record its change data feed "
                        f"({CDF_PROPERTY} is {enabled!r} at version {self.pinned}), which "
                        "incremental_by: version reads",
                        flow=self.context.flow,
                        side="home",
                        field="incremental_by",
                        hint=f"ALTER TABLE ... SET TBLPROPERTIES ('{CDF_PROPERTY}' = 'true') "
                        f"(deltalake: DeltaTable.alter.set_table_properties({{'{CDF_PROPERTY}'"
                        ": 'true'})), then "
                        + (
                            "run again"
                            if self.since is None
                            # The versions since the flow's last run have no feed to read.
                            else "run the flow with --full-refresh to load it again"
                        )
                        + "; or read by a cursor column with incremental: {cursor: ...}",
                    )
                ]
            )

    def _plan_changes(self) -> list[WorkUnit]:
        """One unit per version committed after `since`, up to the pinned one."""
        assert self.since is not None
        self._columns()  # a clash of column names fails on the driver
        pinned = self.table.version()
        if pinned < self.since:
            raise PermanentError(
                f"delta table {self.config.path} is at version {pinned}, before version "
                f"{self.since} that this flow read last (the table was replaced or "
                "restored); run the flow with --full-refresh to load it again"
            )
        if pinned == self.since:
            return []
        self._check_feed()
        return [
            WorkUnit(id=f"cdf:{version}", payload={"cdf": version})
            for version in range(self.since + 1, pinned + 1)
        ]

    def _read_changes(self, version: int) -> Iterator[pa.RecordBatch]:
        """The changes of one version as hygge's change log, in the feed's order within each
        kind, deletes first (see `_WRITE_SEQ`)."""
        columns = self._columns()
        try:
            feed = self.table.load_cdf(
                starting_version=version,
                ending_version=version,
                columns=[*columns.names, "_change_type", "_commit_timestamp"],
            )
            reader = pa.RecordBatchReader.from_stream(feed)
        except DeltaError as exc:
            raise PermanentError(self._feed_gone(version, exc)) from None
        deletes = writes = 0
        wanted = self.schema()
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (DeltaError, OSError, pa.ArrowException) as exc:
                raise PermanentError(self._feed_gone(version, exc)) from None
            # Conformed first: Arrow's kernels do not all take the feed's view strings.
            kind = _conform(batch.column("_change_type"), pa.string())
            keep = pc.is_in(kind, value_set=pa.array(list(_CHANGE_TYPES)))
            if not pc.any(keep).as_py():
                continue
            kind = kind.filter(keep)
            n = len(kind)
            is_delete = pc.equal(kind, "delete")
            n_delete = pc.sum(is_delete.cast(pa.int64())).as_py() or 0
            # Running positions among the version's deletes and among its writes.
            ranks = pc.cumulative_sum(is_delete.cast(pa.int64()))
            wranks = pc.cumulative_sum(pc.invert(is_delete).cast(pa.int64()))
            seq = pc.if_else(
                is_delete,
                pc.add(ranks, deletes - 1),
                pc.add(wranks, _WRITE_SEQ + writes - 1),
            )
            deletes += n_delete
            writes += n - n_delete
            arrays = [_conform(batch.column(f.name), f.type).filter(keep) for f in columns]
            arrays += [
                pc.if_else(pc.equal(kind, "update_postimage"), changes.UPDATE, kind),
                pa.repeat(pa.scalar(version, pa.int64()), n),
                seq,
                _conform(batch.column("_commit_timestamp"), CHANGE_FIELDS[3].type).filter(keep),
            ]
            yield pa.RecordBatch.from_arrays(arrays, schema=wanted)

    def _feed_gone(self, version: int, exc: BaseException) -> str:
        return (
            f"delta table {self.config.path}: cannot read the change data feed of version "
            f"{version} ({first_line(exc)}); its log entry or change files are gone "
            "(expired by delta.logRetentionDuration, or removed by VACUUM) or the feed was "
            "off then. Run the flow with --full-refresh to load the table again from its "
            "current version (or, to append the snapshot to a change log, 'hygge state "
            "reset' the flow and run it)"
        )

    def read(self, unit: WorkUnit) -> Iterator[pa.RecordBatch]:
        if "cdf" in unit.payload:
            yield from self._read_changes(unit.payload["cdf"])
            return
        batches = self._read_file(unit)
        if not self.by_version:
            yield from batches
            return
        # The snapshot as inserts at its version, ordered by file and row. Its rows have no
        # commit time of their own (they were written by many earlier versions): NULL.
        seq = unit.payload["file"] << 32
        schema = self.schema()
        version = pa.scalar(unit.payload["version"], pa.int64())
        for batch in batches:
            n = batch.num_rows
            ones = pa.repeat(pa.scalar(1, pa.int64()), n)
            yield pa.RecordBatch.from_arrays(
                [
                    *batch.columns,
                    pa.repeat(pa.scalar(changes.INSERT, pa.string()), n),
                    pa.repeat(version, n),
                    pc.add(pc.cumulative_sum(ones), seq - 1),  # seq, seq + 1, ...
                    pa.nulls(n, CHANGE_FIELDS[3].type),
                ],
                schema=schema,
            )
            seq += n

    def _read_file(self, unit: WorkUnit) -> Iterator[pa.RecordBatch]:
        wanted = self._columns()
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
        # Each column through a buffer of the reader share: unbuffered, pyarrow fetches
        # every column's whole chunk at once, outside the budget (`read_buffer`).
        memory = self.context.memory
        buffer, held = read_buffer(
            memory.share.reader, leaf_columns(full.field(n).type for n in in_file)
        )
        try:
            pf = pq.ParquetFile(
                self.afs.open_input_file(path), pre_buffer=False, buffer_size=buffer
            )
        except FileNotFoundError:
            raise PermanentError(
                f"delta table {self.config.path}: data file {unit.payload['path']} of version "
                f"{unit.payload['version']} is gone (vacuumed?)"
            ) from None
        memory.hold(held)
        try:
            present = set(pf.schema_arrow.names)
            for batch in pf.iter_batches(
                batch_size=self.config.batch_rows,
                columns=[n for n in in_file if n in present],
                use_threads=unit.payload.get("threads", False),
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
                schema = pa.schema([full.field(n) for n in needed])
                table = pa.Table.from_arrays(columns, schema=schema)
                if expression is not None:
                    table = table.filter(expression)
                if table.num_rows:
                    yield from table.select(wanted.names).to_batches()
        finally:
            memory.hold(-held)

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


def _conform(column: pa.Array | pa.ChunkedArray, t: pa.DataType) -> pa.Array:
    """A feed column as the table's Arrow type (the feed may read text as large or view
    strings, or times in another unit or zone)."""
    return column if column.type == t else column.cast(t)


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
