"""Writing a unit's rows as Delta data files: Parquet, split by partition, with statistics.

Files are written straight to where they will live (`col=value/` folders under the table),
under names no other run can produce. A file the log does not reference is invisible to
every Delta reader, so staging needs no separate folder, and publishing is the log entry
alone: no copy, no rename.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hygge_core import PermanentError

NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # how Delta and Hive name a NULL partition


def partition_text(value: Any, t: pa.DataType) -> str | None:
    """A partition value as the Delta log writes it (`partitionValues` are strings)."""
    if value is None:
        return None
    if pa.types.is_boolean(t):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def check_partition_column(name: str, t: pa.DataType) -> None:
    """Refuse partition columns whose values cannot name a folder exactly."""
    if not (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_integer(t)
        or pa.types.is_date(t)
        or pa.types.is_boolean(t)
    ):
        raise PermanentError(
            f"partition_by column '{name}' has type {t}; Delta partitions here take text, "
            "integer, date or boolean columns (derive a date or a bucket column to partition by)"
        )


@dataclass
class _Stats:
    """Running per-file statistics in Delta's `stats` JSON shape."""

    rows: int = 0
    nulls: dict[str, int] = field(default_factory=dict)
    low: dict[str, Any] = field(default_factory=dict)
    high: dict[str, Any] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)  # columns whose min/max cannot be told

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        for name, column in zip(table.column_names, table.columns, strict=True):
            t = column.type
            if pa.types.is_nested(t):
                continue
            self.nulls[name] = self.nulls.get(name, 0) + column.null_count
            if name in self.unknown or not _bounded(t):
                continue
            if pa.types.is_floating(t) and pc.any(pc.is_nan(column)).as_py():
                self.unknown.add(name)  # NaN orders above every number: no honest max
                continue
            bounds = pc.min_max(column)
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            if low is None:
                continue
            if name not in self.low or low < self.low[name]:
                self.low[name] = low
            if name not in self.high or high > self.high[name]:
                self.high[name] = high

    def json(self, schema: pa.Schema) -> str:
        low = {n: _stat(v, schema.field(n).type, "min") for n, v in self.low.items()}
        high = {n: _stat(v, schema.field(n).type, "max") for n, v in self.high.items()}
        return json.dumps(
            {
                "numRecords": self.rows,
                "minValues": {n: v for n, v in low.items() if n not in self.unknown},
                "maxValues": {n: v for n, v in high.items() if n not in self.unknown},
                "nullCount": self.nulls,
            },
            separators=(",", ":"),
        )


def _bounded(t: pa.DataType) -> bool:
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_date(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
    )


def _stat(value: Any, t: pa.DataType, side: str) -> Any:
    if pa.types.is_timestamp(t):
        # The log keeps milliseconds: round the bound outwards so no row falls outside it.
        micros = value.microsecond % 1000
        if micros and side == "max":
            value = value + dt.timedelta(microseconds=1000 - micros)
        elif micros:
            value = value - dt.timedelta(microseconds=micros)
        text = value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"
        return text + ("Z" if t.tz else "")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


@dataclass
class DataFile:
    """One written data file, as the commit will add it to the log."""

    path: str  # relative to the table root, '/'-separated
    size: int
    partition_values: dict[str, str | None]
    rows: int
    stats: str

    def plain(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "partition_values": self.partition_values,
            "rows": self.rows,
            "stats": self.stats,
        }


class _OpenFile:
    def __init__(self, path: str, writer: pq.ParquetWriter, values: dict[str, str | None]):
        self.path = path
        self.writer = writer
        self.values = values
        self.stats = _Stats()
        self.pending: list[pa.Table] = []
        self.pending_rows = 0


class DataFileWriter:
    """Writes one unit's rows into data files under `root`, one open file per partition.

    `prefix` makes every name unique to the run, unit and attempt. Rows are gathered per
    partition into row groups of `row_group_rows`, and a file is closed at `file_rows`.
    """

    def __init__(
        self,
        afs: Any,
        root: str,
        prefix: str,
        schema: pa.Schema,
        partition_by: list[str],
        *,
        compression: str | None,
        row_group_rows: int,
        file_rows: int,
    ) -> None:
        self.afs = afs
        self.root = root
        self.prefix = prefix
        self.partition_by = partition_by
        self.file_schema = pa.schema([f for f in schema if f.name not in partition_by])
        self.partition_types = {n: schema.field(n).type for n in partition_by}
        self.compression = compression
        self.row_group_rows = row_group_rows
        self.file_rows = file_rows
        self.open: dict[tuple[str | None, ...], _OpenFile] = {}
        self.done: list[DataFile] = []
        self.count = 0

    def write(self, batch: pa.RecordBatch) -> None:
        table = pa.Table.from_batches([batch])
        if not self.partition_by:
            self._add((), table.select(self.file_schema.names))
            return
        keys = table.select(self.partition_by)
        combos = keys.group_by(self.partition_by, use_threads=False).aggregate([])
        for combo in combos.to_pylist():
            mask = None
            for name in self.partition_by:
                value = combo[name]
                test = (
                    pc.is_null(table[name])
                    if value is None
                    else pc.equal(table[name], pa.scalar(value, table.schema.field(name).type))
                )
                mask = test if mask is None else pc.and_(mask, test)
            part = table.filter(mask).select(self.file_schema.names)
            values = tuple(
                partition_text(combo[n], self.partition_types[n]) for n in self.partition_by
            )
            self._add(values, part)

    def _add(self, values: tuple[str | None, ...], table: pa.Table) -> None:
        f = self.open.get(values)
        if f is None:
            f = self.open[values] = self._new_file(values)
        f.pending.append(table)
        f.pending_rows += table.num_rows
        f.stats.add(table)
        if f.pending_rows >= self.row_group_rows:
            self._flush(f)
        if f.stats.rows >= self.file_rows:
            self._close(values)

    def _new_file(self, values: tuple[str | None, ...]) -> _OpenFile:
        folder = "/".join(
            f"{_escape(n)}={NULL_PARTITION if v is None else _escape(v)}"
            for n, v in zip(self.partition_by, values, strict=True)
        )
        name = f"{self.prefix}-{self.count:03d}.parquet"
        self.count += 1
        rel = f"{folder}/{name}" if folder else name
        full = posixpath.join(self.root, rel)
        self.afs.create_dir(posixpath.dirname(full), recursive=True)
        writer = pq.ParquetWriter(
            full, self.file_schema, filesystem=self.afs, compression=self.compression
        )
        return _OpenFile(rel, writer, dict(zip(self.partition_by, values, strict=True)))

    def _flush(self, f: _OpenFile) -> None:
        if f.pending:
            f.writer.write_table(pa.concat_tables(f.pending), row_group_size=self.row_group_rows)
            f.pending, f.pending_rows = [], 0

    def _close(self, values: tuple[str | None, ...]) -> None:
        f = self.open.pop(values)
        self._flush(f)
        f.writer.close()
        size = self.afs.get_file_info(posixpath.join(self.root, f.path)).size
        self.done.append(
            DataFile(f.path, size, f.values, f.stats.rows, f.stats.json(self.file_schema))
        )

    def close(self) -> list[DataFile]:
        """Close every open file; the files written, in order."""
        for values in list(self.open):
            self._close(values)
        return self.done

    def discard(self) -> None:
        """Close open files without recording them (the unit failed)."""
        for f in self.open.values():
            f.writer.close()
        self.open.clear()


def _escape(value: str) -> str:
    # Hive-style escaping of folder names, as Delta writers do (readers use the log's
    # unescaped partitionValues, so this only has to be unambiguous and path-safe).
    return urllib.parse.quote(value, safe=" -_.~+")
