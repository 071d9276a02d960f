"""The Parquet home: files, directories or globs read as one dataset, row group by row group."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from hygge_core import FlowContext, PermanentError, Window, WorkUnit, content_id, hive
from hygge_core.files import (
    FileHome,
    FileHomeConfig,
    HivePartitions,
    glob_base,
    leaf_columns,
    read_buffer,
    short_round,
)

# The fewest rows a unit is cut to so that the plan's units spread evenly over the cores.
MIN_SPLIT_ROWS = 100_000


class ParquetHomeConfig(FileHomeConfig):
    """`home: {type: parquet, ...}`."""

    columns: list[str] | None = Field(default=None, description="read only these columns")
    batch_rows: int = Field(default=131_072, ge=1, description="rows per record batch")
    unit_rows: int = Field(
        default=1_000_000,
        ge=1,
        description="rows per work unit at most (row groups are grouped; fewer, down to "
        "100,000, so that the units spread evenly over the flow's parallelism)",
    )


class ParquetHome(FileHome):
    """Reads Parquet files as one dataset: every file must have the same schema.

    Work units are runs of consecutive row groups of one file (about `unit_rows` rows), so a
    single large file still spreads over every core. Incremental reads skip row groups whose
    statistics show no cursor value above the window, then filter rows with `>`.
    Files under hive partition folders (`col=value/`) give those columns back, typed as
    the store that wrote them recorded (`hygge_core.hive`).
    """

    config_model = ParquetHomeConfig
    supports_incremental = True
    splits = True
    transient = (*FileHome.transient, "_metadata", "_versions")
    format = "parquet"

    def __init__(self, config: ParquetHomeConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: ParquetHomeConfig = config

    def _open(self, path: str, buffer_size: int = 0) -> pq.ParquetFile:
        try:
            return pq.ParquetFile(
                self.afs.open_input_file(path), pre_buffer=False, buffer_size=buffer_size
            )
        except FileNotFoundError:
            raise PermanentError(f"Parquet file disappeared while reading: {path}") from None
        except (pa.ArrowInvalid, OSError) as exc:
            raise PermanentError(f"{path} is not a readable Parquet file: {exc}") from None

    @cached_property
    def _metadata(self) -> list[pq.FileMetaData]:
        # Footers are fetched concurrently: with thousands of objects on a cloud store the
        # latency of one request per file would dominate.
        with ThreadPoolExecutor(max_workers=16) as pool:
            return list(pool.map(lambda p: self._open(p).metadata, self.files))

    @cached_property
    def _versions(self) -> list[dict[str, str]]:
        # What identifies each file's content: the filesystem's version of it and its footer.
        # A unit carries it, so a file rewritten after a crash is read again rather than
        # adopting what the crashed run staged from its old bytes.
        with ThreadPoolExecutor(max_workers=16) as pool:
            found = list(pool.map(lambda p: content_id(self.fs, p), self.files))
        for version, meta in zip(found, self._metadata, strict=True):
            version["footer"] = f"{meta.num_rows}/{meta.num_row_groups}/{meta.serialized_size}"
            version["created_by"] = str(meta.created_by)
        return found

    @cached_property
    def _partitions(self) -> HivePartitions | None:
        base = glob_base(self.root)
        published = hive.read_schema_json(self.fs, base) if self.fs.isdir(base) else None
        return hive.discover(self.files, base, published=published)

    def schema(self) -> pa.Schema:
        first = self._file_schema()
        if self._partitions is not None:
            first = self._partitions.extend(first)
        if self.config.columns:
            missing = [c for c in self.config.columns if c not in first.names]
            if missing:
                raise PermanentError(
                    f"column(s) {', '.join(missing)} not in {self.config.path}; "
                    f"columns: {', '.join(first.names)}"
                )
            return pa.schema([first.field(c) for c in self.config.columns])
        return first

    def _file_schema(self) -> pa.Schema:
        """The schema every file holds (partition columns aside), the same for all."""
        schemas = [m.schema.to_arrow_schema() for m in self._metadata]
        first = schemas[0]
        for path, schema in zip(self.files, schemas, strict=True):
            if not schema.equals(first, check_metadata=False):
                raise PermanentError(
                    f"{path} has a different schema than {self.files[0]}: "
                    + _schema_diff(first, schema)
                )
        return first.remove_metadata()

    def plan(self, window: Window | None) -> list[WorkUnit]:
        found = [
            (
                path,
                meta,
                version,
                [i for i in range(meta.num_row_groups) if _may_match(meta, i, window)],
            )
            for path, meta, version in zip(self.files, self._metadata, self._versions, strict=True)
        ]
        total = sum(meta.row_group(i).num_rows for _, meta, _, groups in found for i in groups)
        target = _unit_rows(total, self.config.unit_rows, self.context.parallelism)
        units: list[WorkUnit] = []
        for path, meta, version, groups in found:
            leaves = _leaves(meta, self.config.columns, window)
            chunk: list[int] = []
            rows = 0
            for i in groups:
                chunk.append(i)
                rows += meta.row_group(i).num_rows
                if rows >= target:
                    units.append(self._unit(path, chunk, rows, version, leaves))
                    chunk, rows = [], 0
            if chunk:
                units.append(self._unit(path, chunk, rows, version, leaves))
        for unit in short_round(units, self.context.parallelism):
            unit.payload["threads"] = True  # decoded on Arrow's threads
        return units

    def _unit(
        self, path: str, groups: list[int], rows: int, version: dict[str, str], leaves: int
    ) -> WorkUnit:
        payload = {"path": path, "row_groups": groups, "version": version, "leaves": leaves}
        if self._partitions is not None:
            payload["partitions"] = self._partitions.values[path]
        return WorkUnit(
            id=f"{self.unit_name(path)}#rg{groups[0]}-{groups[-1]}",
            payload=payload,
            estimated_rows=rows,
        )

    def read(self, unit: WorkUnit) -> Iterator[pa.RecordBatch]:
        memory = self.context.memory
        window = unit.window
        columns = self.config.columns
        if window is not None and columns and window.cursor not in columns:
            columns = [*columns, window.cursor]
        if columns and self._partitions is not None:  # those are in the folder names
            columns = [c for c in columns if c not in self._partitions.names]
        # Each column read through a buffer of its share (`read_buffer`: unbuffered, a whole
        # column chunk per column, outside any budget), and batches cut to fit the queue's.
        buffer, held = read_buffer(memory.share.reader, unit.payload.get("leaves") or 1)
        pf = self._open(unit.payload["path"], buffer_size=buffer)
        memory.hold(held)
        try:
            yield from self._batches(
                pf, unit, columns, _batch_rows(pf, unit, memory.share.queue, self.config.batch_rows)
            )
        finally:
            memory.hold(-held)

    def _batches(
        self, pf: pq.ParquetFile, unit: WorkUnit, columns: list[str] | None, rows: int
    ) -> Iterator[pa.RecordBatch]:
        window = unit.window
        for batch in pf.iter_batches(
            batch_size=rows,
            row_groups=unit.payload["row_groups"],
            columns=columns,
            use_threads=unit.payload.get("threads", False),
        ):
            if self._partitions is not None:
                batch = self._partitions.append(batch, unit.payload["partitions"])
                if self.config.columns:
                    wanted = self.config.columns
                    if window is not None and window.cursor not in wanted:
                        wanted = [*wanted, window.cursor]
                    batch = batch.select(wanted)
            if window is not None and window.after is not None:
                import pyarrow.compute as pc  # only incremental reads filter rows

                column = batch.column(window.cursor)
                bound = pa.scalar(window.after, type=column.type)
                batch = batch.filter(pc.greater(column, bound))
                if self.config.columns and window.cursor not in self.config.columns:
                    batch = batch.select(self.config.columns)
            yield batch


def _unit_rows(total: int, unit_rows: int, parallelism: int | None) -> int:
    """Rows per unit: at most `unit_rows`, and fewer so that the plan's units come in a
    multiple of `parallelism` of equal size (where row groups allow).

    Otherwise the last round of units runs on fewer cores than the flow has: a 1M-row file
    of small row groups was one unit on one of two cores, 2.5M rows three units, the last
    alone (issue 22). Row groups are never split, so a file of 1M-row groups keeps a unit
    per group; and no unit is cut below `MIN_SPLIT_ROWS`, where a unit's own costs (a file,
    its footer, the threads) outweigh another core's help."""
    if not parallelism or parallelism <= 1 or total <= 0:
        return unit_rows
    units = -(-total // unit_rows)
    units = -(-units // parallelism) * parallelism
    balanced = -(-total // units)
    return balanced if balanced >= min(unit_rows, MIN_SPLIT_ROWS) else unit_rows


def _leaves(meta: pq.FileMetaData, columns: list[str] | None, window: Window | None) -> int:
    """How many Parquet columns (leaves of nested ones) a unit of this file reads."""
    if not columns:
        return int(meta.num_columns)
    wanted = {*columns, window.cursor} if window is not None else set(columns)
    schema = meta.schema.to_arrow_schema()
    return leaf_columns(f.type for f in schema if f.name in wanted) or 1


def _batch_rows(pf: pq.ParquetFile, unit: WorkUnit, queue: int, configured: int) -> int:
    """`batch_rows`, or fewer so that a batch fits the unit's queue share (judged from
    the row groups' uncompressed size; at least 8,192 rows, where Arrow's batches stay
    efficient)."""
    meta = pf.metadata
    groups = unit.payload["row_groups"]
    rows = sum(meta.row_group(i).num_rows for i in groups)
    size = sum(meta.row_group(i).total_byte_size for i in groups)
    if rows <= 0 or size <= 0:
        return configured
    fits = queue // max(1, size // rows)
    return max(8192, min(configured, fits))


def _may_match(meta: pq.FileMetaData, index: int, window: Window | None) -> bool:
    """False only when row-group statistics prove no row passes the window."""
    if window is None or window.after is None:
        return True
    group = meta.row_group(index)
    for c in range(group.num_columns):
        col = group.column(c)
        if col.path_in_schema != window.cursor:
            continue
        stats = col.statistics
        if stats is None or not stats.has_min_max:
            return True
        try:
            return bool(stats.max > window.after)
        except TypeError:  # e.g. aware vs naive datetimes: let the row filter decide
            return True
    return True


def _schema_diff(a: pa.Schema, b: pa.Schema) -> str:
    lines = []
    for f in a:
        if f.name not in b.names:
            lines.append(f"column {f.name} missing")
        elif not b.field(f.name).type.equals(f.type):
            lines.append(f"column {f.name}: {f.type} → {b.field(f.name).type}")
    lines += [f"column {f.name} added ({f.type})" for f in b if f.name not in a.names]
    return "; ".join(lines) or "field order or nullability differs"
