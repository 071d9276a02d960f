"""Writing a unit's rows as Delta data files: Parquet, split by partition, with statistics.

Files are written straight to where they will live (`col=value/` folders under the table),
under names no other run can produce. A file the log does not reference is invisible to
every Delta reader, so staging needs no separate folder, and publishing is the log entry
alone: no copy, no rename.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from hygge_core import FlowMemory, PermanentError
from hygge_core.files import FileStats, PartitionedWriter

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


def stats_json(stats: FileStats, schema: pa.Schema) -> str:
    """A file's statistics as the Delta log's `stats` JSON."""
    low = {n: _stat(v, schema.field(n).type, "min") for n, v in stats.low.items()}
    high = {n: _stat(v, schema.field(n).type, "max") for n, v in stats.high.items()}
    return json.dumps(
        {"numRecords": stats.rows, "minValues": low, "maxValues": high, "nullCount": stats.nulls},
        separators=(",", ":"),
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

    path: str  # relative to the table root, '/'-separated, not escaped
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


class DataFileWriter:
    """Writes one unit's rows into Delta data files under `root`: `col=value/` folders for
    the partition columns, which (as Delta wants) are left out of the files themselves."""

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
        memory: FlowMemory | None = None,
    ) -> None:
        self.partition_by = partition_by
        self.types = {n: schema.field(n).type for n in partition_by}
        self.file_schema = pa.schema([f for f in schema if f.name not in partition_by])
        self.writer = PartitionedWriter(
            afs,
            root,
            prefix,
            self.file_schema,
            folder=self._folder,
            row_group_rows=row_group_rows,
            file_rows=file_rows,
            writer_options={"compression": compression},
            memory=memory,
        )

    def _folder(self, key: tuple[Any, ...]) -> str:
        return "/".join(
            f"{_escape(n)}={NULL_PARTITION if v is None else _escape(self._text(n, v) or '')}"
            for n, v in zip(self.partition_by, key, strict=True)
        )

    def _text(self, name: str, value: Any) -> str | None:
        return partition_text(value, self.types[name])

    def write(self, batch: pa.RecordBatch) -> None:
        table = pa.Table.from_batches([batch])
        keys = table.select(self.partition_by) if self.partition_by else None
        self.writer.write(table.select(self.file_schema.names), keys)

    def close(self) -> list[DataFile]:
        """Close every open file; the files written, in order."""
        return [
            DataFile(
                f.path,
                f.size,
                {n: self._text(n, v) for n, v in zip(self.partition_by, f.key, strict=True)},
                f.stats.rows,
                stats_json(f.stats, self.file_schema),
            )
            for f in self.writer.close()
        ]

    def discard(self) -> None:
        """Close open files without recording them (the unit failed; abort deletes them)."""
        self.writer.discard()


def _escape(value: str) -> str:
    # Hive-style escaping of folder names, as Delta writers do (readers use the log's
    # unescaped partitionValues, so this only has to be unambiguous and path-safe).
    return urllib.parse.quote(value, safe=" -_.~+")
