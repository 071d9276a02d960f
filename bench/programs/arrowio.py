"""Small helpers shared by the reference programs: a prefetch thread and a row-group writer.

They are what a careful user of pyarrow would write by hand; keeping them in one place makes
every reference program equally tuned, so that no reference is slow for a silly reason.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

T = TypeVar("T")
ROW_GROUP_ROWS = 1_000_000  # the reference figures use 1M-row row groups
_DONE = object()


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead.

    The reader (a driver or Parquet decoder that releases the GIL) then overlaps with whatever
    the caller does with each item. The bounded queue gives backpressure; an exception in the
    reader is re-raised in the caller.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            for item in items:
                q.put(item)
        except BaseException as exc:  # handed over to the consumer thread below
            failure.append(exc)
        finally:
            q.put(_DONE)

    thread = threading.Thread(target=run, name="prefetch", daemon=True)
    thread.start()
    while (item := q.get()) is not _DONE:
        yield item  # type: ignore[misc]
    thread.join()
    if failure:
        raise failure[0]


class RowGroupWriter:
    """Write record batches to one Parquet file in row groups of ``row_group_rows`` rows.

    Drivers hand out small batches (SQLite: 1,024 rows); writing each as its own row group gives
    a badly shaped file, so batches are gathered until a full row group is ready.
    """

    def __init__(self, path: Path, row_group_rows: int = ROW_GROUP_ROWS) -> None:
        self.path = path
        self.row_group_rows = row_group_rows
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, batch.schema)
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= self.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        if self._pending and self._writer is not None:
            table = pa.Table.from_batches(self._pending)
            self._writer.write_table(table, row_group_size=self.row_group_rows)
            self.rows += table.num_rows
        self._pending = []
        self._pending_rows = 0

    def close(self, schema: pa.Schema | None = None) -> None:
        """Flush and close; with no batch seen, write an empty file with ``schema``."""
        self._flush()
        if self._writer is None and schema is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, schema)
        if self._writer is not None:
            self._writer.close()
