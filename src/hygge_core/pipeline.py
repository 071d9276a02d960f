"""Moving one work unit: a reader thread feeds a byte-bounded queue that the store drains.

Reading and writing overlap (pyarrow and database drivers release the GIL), and the queue's
byte budget gives backpressure from store to home, so memory does not grow with the data.
The same `run_unit` runs in local threads and on Dask workers.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from hygge_core.home import Home
from hygge_core.store import StagedUnit, Store
from hygge_core.units import WorkUnit

_DONE = object()


class Cancelled(Exception):
    """Raised inside a reader when the consumer stopped (it failed or was cancelled)."""


class ByteBudgetQueue:
    """A FIFO of record batches bounded by their total bytes, not by their count.

    A single batch larger than the budget is still admitted when the queue is empty, so an
    unusually wide batch slows the flow down instead of deadlocking it.
    """

    def __init__(self, budget: int) -> None:
        self.budget = max(budget, 1)
        self._items: deque[Any] = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self._closed = False

    def put(self, item: Any, size: int = 0) -> None:
        """Block until `size` bytes fit; raise `Cancelled` if the consumer gave up."""
        with self._cond:
            while self._items and self._bytes + size > self.budget and not self._closed:
                self._cond.wait()
            if self._closed:
                raise Cancelled
            self._items.append((item, size))
            self._bytes += size
            self._cond.notify_all()

    def get(self) -> Any:
        """Block until an item is available and return it."""
        with self._cond:
            while not self._items:
                self._cond.wait()
            item, size = self._items.popleft()
            self._bytes -= size
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """Wake and cancel a blocked producer; the consumer will not read any more."""
        with self._cond:
            self._closed = True
            self._items.clear()
            self._bytes = 0
            self._cond.notify_all()


@dataclass(frozen=True)
class UnitResult:
    """What moving one unit produced: the store's receipt and the unit's cursor maximum."""

    staged: StagedUnit
    rows: int
    bytes: int
    cursor_max: pa.Scalar | None = None


BatchCallback = Callable[[WorkUnit, pa.RecordBatch], None]


def run_unit(
    home: Home,
    store: Store,
    unit: WorkUnit,
    *,
    budget: int = 64 << 20,
    cursor: str | None = None,
    on_batch: BatchCallback | None = None,
) -> UnitResult:
    """Read `unit` from `home` in a thread and stage it into `store` in this one."""
    queue = ByteBudgetQueue(budget)
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            for batch in home.read(unit):
                if batch.num_rows:
                    queue.put(batch, batch.nbytes)
        except Cancelled:
            return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            failure.append(exc)
        try:
            queue.put(_DONE)
        except Cancelled:
            return

    counts = {"rows": 0, "bytes": 0}
    maxima: list[pa.Scalar] = []

    def consume() -> Iterator[pa.RecordBatch]:
        while True:
            item = queue.get()
            if item is _DONE:
                if failure:
                    raise failure[0]
                return
            counts["rows"] += item.num_rows
            counts["bytes"] += item.nbytes
            if cursor is not None:
                # Vectorised max of one column: cheap next to reading the batch.
                m = pc.max(item.column(cursor))
                if m.is_valid:
                    maxima.append(m)
            if on_batch is not None:
                on_batch(unit, item)
            yield item

    reader = threading.Thread(target=produce, name=f"hygge-read-{unit.id}", daemon=True)
    reader.start()
    try:
        staged = store.stage(unit, consume())
        if failure:  # the store may have stopped pulling before it saw the reader's error
            raise failure[0]
    finally:
        queue.close()
        reader.join()
    top = None
    if maxima:
        top = pc.max(pa.array([m.as_py() for m in maxima], type=maxima[0].type))
    return UnitResult(staged=staged, rows=counts["rows"], bytes=counts["bytes"], cursor_max=top)
