"""Writing a unit's rows as Parquet files split by partition, with per-file statistics.

Table formats (Delta, Iceberg) and hive-partitioned stores all need the same thing from a
unit: its rows grouped by a partition key, one open file per key, row groups of a set size,
files closed at a set number of rows, and what each file holds (its key, rows, per-column
null counts and bounds) so the commit can describe it. `PartitionedWriter` does that, with
Arrow's writer and no per-row Python.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from hygge_core._kernels import aggregate, call
from hygge_core.errors import PermanentError, first_line
from hygge_core.hive import Key, split_by_key

if TYPE_CHECKING:
    from hygge_core.memory import FlowMemory


@dataclass
class FileStats:
    """What one written file holds: rows, and per top-level column its NULL count and,
    where they can be told exactly, its lowest and highest value.

    Bounds are kept for integers, floats without NaN, dates, timestamps and text; `unknown`
    names the columns whose bounds cannot be trusted (NaN orders above every number).
    """

    rows: int = 0
    nulls: dict[str, int] = field(default_factory=dict)
    low: dict[str, Any] = field(default_factory=dict)
    high: dict[str, Any] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)

    def add(self, table: pa.Table) -> None:
        """Fold `table`'s rows into the statistics."""
        self.rows += table.num_rows
        for name, column in zip(table.column_names, table.columns, strict=True):
            t = column.type
            if pa.types.is_nested(t):
                continue
            self.nulls[name] = self.nulls.get(name, 0) + column.null_count
            if name in self.unknown or not _bounded(t):
                continue
            if pa.types.is_floating(t) and aggregate("any", call("is_nan", column)).as_py():
                self.unknown.add(name)
                self.low.pop(name, None)
                self.high.pop(name, None)
                continue
            bounds = aggregate("min_max", column)
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            if low is None:
                continue
            if name not in self.low or low < self.low[name]:
                self.low[name] = low
            if name not in self.high or high > self.high[name]:
                self.high[name] = high


def _bounded(t: pa.DataType) -> bool:
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_date(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
    )


@dataclass
class WrittenFile:
    """One closed data file: its path relative to the writer's root, and what it holds."""

    path: str
    size: int
    key: Key
    stats: FileStats


class _Open:
    def __init__(self, path: str, writer: pq.ParquetWriter, key: Key) -> None:
        self.path = path
        self.writer = writer
        self.key = key
        self.stats = FileStats()
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.pending_bytes = 0  # of `pending`: what writing them releases


class PartitionedWriter:
    """Writes rows into Parquet files under `root`, one open file per partition key.

    `folder(key)` names a key's folder relative to `root` ("" for none); file names are
    `<prefix>-<n>.parquet`, so a prefix unique to the run, unit and attempt makes every
    name unique. Rows are gathered per key into row groups of `row_group_rows`; a file is
    closed at `file_rows`. `writer_options` go to `pyarrow.parquet.ParquetWriter`
    (compression, dictionary and encoding choices); unless they set `use_dictionary` or
    `column_encoding`, each column's encoding is chosen once, from the first rows written
    (`parquet_encodings.choose`), and kept for every file.

    Given the flow's `memory`, the rows gathered are counted as held, and once they reach
    half of the unit's writer share every open file writes what it gathered as a smaller
    row group (the encoder holds about as much again while it writes), recorded with
    `memory.flushed()`: many partitions, or wide rows, never take the unit past its share.
    """

    def __init__(
        self,
        afs: Any,
        root: str,
        prefix: str,
        schema: pa.Schema,
        *,
        folder: Callable[[Key], str] = lambda key: "",
        row_group_rows: int = 131_072,
        file_rows: int = 10_000_000,
        writer_options: dict[str, Any] | None = None,
        memory: FlowMemory | None = None,
    ) -> None:
        self.afs = afs
        self.memory = memory
        self._pending_bytes = 0
        self.root = root
        self.prefix = prefix
        self.schema = schema
        self.folder = folder
        self.row_group_rows = row_group_rows
        self.file_rows = file_rows
        self.writer_options = writer_options or {}
        self.open: dict[Key, _Open] = {}
        self.done: list[WrittenFile] = []
        self.count = 0
        self._encodings: dict[str, Any] | None = None

    def write(self, table: pa.Table, keys: pa.Table | None = None) -> None:
        """Write `table` (of `schema`); `keys` holds the partition key of each row (one
        column per key part, aligned with `table`), None for an unpartitioned write."""
        for key, part in split_by_key(table, keys):
            self._add(key, part)

    def _add(self, key: Key, table: pa.Table) -> None:
        f = self.open.get(key)
        if f is None:
            f = self.open[key] = self._new(key, table)
        f.pending.append(table)
        f.pending_rows += table.num_rows
        f.pending_bytes += table.nbytes
        f.stats.add(table)
        self._gathered(table.nbytes)
        if f.pending_rows >= self.row_group_rows:
            self._flush(f, whole_groups=True)
        if f.stats.rows >= self.file_rows:
            self._close(key)
        if self.memory is not None and self._pending_bytes > self.memory.share.writer // 2:
            self.memory.flushed()
            self.flush()

    def _gathered(self, nbytes: int) -> None:
        self._pending_bytes += nbytes
        if self.memory is not None:
            self.memory.hold(nbytes)

    def _new(self, key: Key, first: pa.Table) -> _Open:
        folder = self.folder(key)
        name = f"{self.prefix}-{self.count:03d}.parquet"
        self.count += 1
        rel = f"{folder}/{name}" if folder else name
        full = posixpath.join(self.root, rel)
        self.afs.create_dir(posixpath.dirname(full), recursive=True)
        options = {**self.writer_options, **self._encoding_options(first)}
        writer = pq.ParquetWriter(full, self.schema, filesystem=self.afs, **options)
        return _Open(rel, writer, key)

    def _encoding_options(self, first: pa.Table) -> dict[str, Any]:
        """The encodings chosen from the first rows written (none if the caller chose)."""
        if "use_dictionary" in self.writer_options or "column_encoding" in self.writer_options:
            return {}
        if self._encodings is not None:
            return self._encodings
        from hygge_core.parquet_encodings import SAMPLE_ROWS, choose

        codec = self.writer_options.get("compression")
        chosen = choose(first, rows_per_group=self.row_group_rows, compression=codec)
        plan = {**chosen.writer_options(), "compression": chosen.codecs(codec)}
        if first.num_rows >= SAMPLE_ROWS:  # a full sample: good for the unit's other files
            self._encodings = plan
        return plan

    @property
    def pending_bytes(self) -> int:
        """Bytes of rows gathered for row groups not written yet, over every open file."""
        return self._pending_bytes

    def flush(self) -> None:
        """Write every open file's gathered rows as a row group now (smaller than
        `row_group_rows`): for a caller whose memory budget is reached, with many keys."""
        for f in self.open.values():
            self._flush(f)

    def _flush(self, f: _Open, whole_groups: bool = False) -> None:
        """Write what `f` gathered; with `whole_groups`, only full row groups, the rest
        staying gathered (batches rarely end on a group's boundary: writing everything would
        leave a small group after each full one)."""
        if not f.pending:
            return
        table = pa.concat_tables(f.pending)
        rest = table.slice(0, 0)
        if whole_groups:
            cut = table.num_rows - table.num_rows % self.row_group_rows
            table, rest = table.slice(0, cut), table.slice(cut)
        f.writer.write_table(table, row_group_size=self.row_group_rows)
        self._gathered(-f.pending_bytes)
        f.pending, f.pending_rows, f.pending_bytes = [], 0, 0
        if rest.num_rows:
            f.pending, f.pending_rows, f.pending_bytes = [rest], rest.num_rows, rest.nbytes
            self._gathered(rest.nbytes)

    def _close(self, key: Key) -> None:
        f = self.open.pop(key)
        self._flush(f)
        f.writer.close()
        size = self.afs.get_file_info(posixpath.join(self.root, f.path)).size
        self.done.append(WrittenFile(f.path, size, f.key, f.stats))

    def close(self) -> list[WrittenFile]:
        """Close every open file; every file written, in the order closed."""
        for key in list(self.open):
            self._close(key)
        return self.done

    def discard(self) -> list[str]:
        """Close the open files without recording them (the unit failed); every path this
        writer created, relative to `root`, for the caller to delete."""
        for f in self.open.values():
            f.writer.close()
        paths = [f.path for f in self.done] + [f.path for f in self.open.values()]
        self.open.clear()
        self._gathered(-self._pending_bytes)
        return paths


Data = TypeVar("Data", pa.Table, pa.RecordBatch)


def conform(data: Data, schema: pa.Schema, where: str) -> Data:
    """`data` cast to `schema`, refusing any cast that would change a value.

    For stores whose target fixes the types (a table format, a database): a value that does
    not fit (a nanosecond in a microsecond column, a uint64 above 2**63) fails naming the
    column and `where` ("the Delta table"), instead of landing altered.
    """
    if data.schema.equals(schema, check_metadata=False):
        return data
    columns = []
    for name, target in zip(schema.names, schema.types, strict=True):
        column = data.column(name)
        if column.type != target:
            try:
                column = column.cast(target, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise PermanentError(
                    f"column '{name}': a value of type {column.type} does not fit {where}'s "
                    f"{target} without changing it ({first_line(exc)})"
                ) from None
        columns.append(column)
    return type(data).from_arrays(columns, schema=schema)
