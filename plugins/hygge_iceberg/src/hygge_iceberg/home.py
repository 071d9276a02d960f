"""The Iceberg home: a table read at one snapshot, one work unit per planned scan task.

The snapshot is pinned when the run plans. pyiceberg plans the scan (partition and
statistics pruning with the `filter:` and the incremental window pushed down) into tasks of
one data file each with its delete files; a unit carries its task, serialised, so any
executor can read it. A plain data file (no delete files, no row filter, every column under
its current name and field id) is read with pyarrow within the unit's reader share; any
other with pyiceberg's Arrow reader (deletes applied, columns of older schemas filled).

With `incremental_by: snapshot` the flow's state keeps the snapshot id each run read up to
(`Home.position`, committed with the data); the next run plans only the data files that the
append snapshots after it added.
"""

from __future__ import annotations

import base64
import pickle
from collections.abc import Iterator
from functools import cached_property
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hygge_core import FlowContext, FlowState, Home, PermanentError, Window, WorkUnit, first_line
from hygge_core.files import leaf_columns, read_buffer, short_round
from hygge_iceberg.catalog import open_catalog
from hygge_iceberg.config import IcebergHomeConfig

# Text and bytes as Arrow's plain types, whatever pyiceberg's reader or a file holds.
_PLAIN = {pa.large_string(): pa.string(), pa.large_binary(): pa.binary()}


class IcebergHome(Home):
    """Reads an Iceberg table (see the module docstring)."""

    config_model = IcebergHomeConfig
    supports_incremental = True
    splits = True  # one unit per data file
    transient = ("catalog", "table")

    def __init__(self, config: IcebergHomeConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: IcebergHomeConfig = config
        self.pinned: int | None = config.snapshot_id
        self.since: int | None = None  # the snapshot the flow committed last

    def begin(self, state: FlowState | None) -> None:
        position = state.position if state else None
        if self.config.incremental_by == "snapshot" and isinstance(position, dict):
            self.since = position.get("snapshot_id")

    def position(self) -> Any:
        if self.config.incremental_by != "snapshot":
            return None
        self.table  # noqa: B018 - loading it pins the snapshot
        return {"snapshot_id": self.pinned} if self.pinned is not None else None

    @cached_property
    def catalog(self) -> Any:
        return open_catalog(self.config, self.context)

    @cached_property
    def table(self) -> Any:
        from pyiceberg.exceptions import NoSuchTableError

        try:
            table = self.catalog.load_table(self.config.table)
        except NoSuchTableError:
            raise PermanentError(f"no Iceberg table {self.config.table}") from None
        if self.pinned is None and table.current_snapshot() is not None:
            self.pinned = table.current_snapshot().snapshot_id
        return table

    def describe(self) -> str:
        return f"iceberg {self.config.table}"

    def check(self) -> str | None:
        try:
            self.table  # noqa: B018 - loading it is the check
        except PermanentError as exc:
            return str(exc)
        return None

    def schema(self) -> pa.Schema:
        full = self._snapshot_schema()
        if not self.config.columns:
            return full
        missing = [c for c in self.config.columns if c not in full.names]
        if missing:
            raise PermanentError(
                f"column(s) {', '.join(missing)} not in the Iceberg table {self.config.table}; "
                f"columns: {', '.join(full.names)}"
            )
        return pa.schema([full.field(c) for c in self.config.columns])

    def _snapshot_schema(self) -> pa.Schema:
        full = self.table.schema().as_arrow()
        return pa.schema([pa.field(f.name, _PLAIN.get(f.type, f.type)) for f in full])

    def _scan(self, window: Window | None) -> Any:
        from pyiceberg.expressions import AlwaysTrue, GreaterThan, Reference, parser

        row_filter: Any = AlwaysTrue()
        if self.config.filter:
            try:
                row_filter = parser.parse(self.config.filter)
            except Exception as exc:
                raise PermanentError(
                    f"filter: {self.config.filter!r} is not an Iceberg expression: "
                    f"{first_line(exc)}"
                ) from None
        if window is not None and window.after is not None:
            after = window.after
            row_filter = row_filter & GreaterThan(
                term=Reference(window.cursor), value=_literal(after)
            )
        needed = self.schema().names
        if window is not None and window.cursor not in needed:
            needed = [*needed, window.cursor]
        if self.pinned is None:
            return None
        return self.table.scan(
            row_filter=row_filter, selected_fields=tuple(needed), snapshot_id=self.pinned
        )

    def plan(self, window: Window | None) -> list[WorkUnit]:
        scan = self._scan(window)
        if scan is None:
            return []  # a table with no snapshot holds no rows
        try:
            tasks = list(scan.plan_files())
        except Exception as exc:
            raise PermanentError(
                f"iceberg table {self.config.table}: cannot plan the scan: {first_line(exc)}"
            ) from None
        added = self._added_since()
        if added is not None:
            tasks = [t for t in tasks if t.file.file_path in added]
        units = [
            WorkUnit(
                id=f"s{self.pinned}:{task.file.file_path.rsplit('/', 1)[-1]}",
                payload={"task": base64.b64encode(pickle.dumps(task)).decode()},
                estimated_rows=task.file.record_count,
                estimated_bytes=task.file.file_size_in_bytes,
            )
            for task in sorted(tasks, key=lambda t: t.file.file_path)
        ]
        for unit in short_round(units, self.context.parallelism):
            unit.payload["threads"] = True  # decoded on Arrow's threads, when read directly
        return units

    def _added_since(self) -> set[str] | None:
        """The data files appended after snapshot `since` up to the pinned one (None: read
        everything). Only appends can be read this way: a snapshot that deleted or rewrote
        rows in between fails the run, naming it, rather than miss the change."""
        if self.since is None:
            return None
        from pyiceberg.manifest import DataFileContent, ManifestEntryStatus

        table, io = self.table, self.table.io
        chain = []
        snapshot = table.snapshot_by_id(self.pinned) if self.pinned is not None else None
        while snapshot is not None and snapshot.snapshot_id != self.since:
            chain.append(snapshot)
            parent = snapshot.parent_snapshot_id
            snapshot = table.snapshot_by_id(parent) if parent is not None else None
        if snapshot is None:
            raise PermanentError(
                f"iceberg table {self.config.table}: snapshot {self.since}, which this flow "
                f"read last, is not an ancestor of the current snapshot {self.pinned} (the "
                "table was rolled back, replaced or its snapshots expired); run `hygge state "
                "reset` for the flow to read the table in full"
            )
        added: set[str] = set()
        for snapshot in chain:
            operation = snapshot.summary.operation.value if snapshot.summary else "append"
            if operation != "append":
                raise PermanentError(
                    f"iceberg table {self.config.table}: snapshot {snapshot.snapshot_id} is "
                    f"an '{operation}' (not an append), but incremental_by: snapshot reads "
                    "only appended data; read this table with incremental: {cursor: ...} or in "
                    "full (`hygge state reset`)"
                )
            for manifest in snapshot.manifests(io):
                if manifest.added_snapshot_id != snapshot.snapshot_id:
                    continue
                for entry in manifest.fetch_manifest_entry(io):
                    data = entry.data_file
                    if (
                        entry.status == ManifestEntryStatus.ADDED
                        and data.content == DataFileContent.DATA
                    ):
                        added.add(data.file_path)
        return added

    def read(self, unit: WorkUnit) -> Iterator[pa.RecordBatch]:
        scan = self._scan(unit.window)
        task = pickle.loads(base64.b64decode(unit.payload["task"]))
        wanted = self.schema()
        window = unit.window
        batches = self._read_direct(task, scan, unit.payload.get("threads", False))
        if batches is None:
            from pyiceberg.io.pyarrow import ArrowScan

            reader = ArrowScan(
                self.table.metadata, self.table.io, scan.projection(), scan.row_filter, True
            )
            batches = reader.to_record_batches([task])
        for batch in batches:
            if window is not None and window.after is not None:
                column = batch.column(window.cursor)
                batch = batch.filter(pc.greater(column, pa.scalar(window.after, column.type)))
            batch = batch.select(wanted.names)
            if not batch.schema.equals(wanted):  # pyiceberg reads text as large_string
                batch = batch.cast(wanted)
            for start in range(0, batch.num_rows, self.config.batch_rows):
                yield batch.slice(start, self.config.batch_rows)

    def _read_direct(self, task: Any, scan: Any, threads: bool) -> Iterator[pa.RecordBatch] | None:
        """The task's data file read with pyarrow within the unit's reader share, when
        nothing of pyiceberg's reader is needed: a Parquet file with no delete files, no
        `filter:`, and every column read present under its current name and field id in
        a type the home's schema takes as it is (an incremental window needs nothing of
        it: `read` filters on the cursor itself). Else None, and pyiceberg reads it: its
        reader pre-buffers the whole row group and decodes batches ahead, outside the
        budget: a 2M-row table under `memory: 128MB` peaked at 479 MB, 319 MB read here."""
        from pyiceberg.manifest import FileFormat

        if task.file.file_format != FileFormat.PARQUET or task.delete_files or self.config.filter:
            return None
        table_schema = self.table.schema()
        names = [f.name for f in scan.projection().fields]
        arrow = self._snapshot_schema()
        types = [arrow.field(n).type for n in names]
        memory = self.context.memory
        buffer, held = read_buffer(memory.share.reader, leaf_columns(types))
        fin = self.table.io.new_input(task.file.file_path).open(seekable=True)
        try:
            # One footer read serves the check and the read.
            pf = pq.ParquetFile(fin, pre_buffer=False, buffer_size=buffer)
        except (pa.ArrowInvalid, OSError):  # pyiceberg's reader says what is wrong
            fin.close()
            return None
        ids = {
            int(f.metadata[b"PARQUET:field_id"]): f
            for f in pf.schema_arrow
            if f.metadata and b"PARQUET:field_id" in f.metadata
        }
        for name, type_ in zip(names, types, strict=True):
            found = ids.get(table_schema.find_field(name).field_id)
            if found is None or found.name != name or not _same_type(found.type, type_):
                fin.close()
                return None
        return self._batches(fin, pf, names, held, threads)

    def _batches(
        self, fin: Any, pf: pq.ParquetFile, names: list[str], held: int, threads: bool
    ) -> Iterator[pa.RecordBatch]:
        memory = self.context.memory
        memory.hold(held)
        try:
            with fin:
                yield from pf.iter_batches(
                    batch_size=self.config.batch_rows, columns=names, use_threads=threads
                )
        finally:
            memory.hold(-held)


def _same_type(physical: pa.DataType, wanted: pa.DataType) -> bool:
    """Whether a file's column reads as the home's type without pyiceberg's conversions
    (text and bytes may be large or not: the home casts those)."""
    return _PLAIN.get(physical, physical) == wanted


def _literal(value: Any) -> Any:
    import datetime as dt

    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value
