"""Moving one work unit: a reader thread feeds a byte-bounded queue that the store drains.

Reading and writing overlap (pyarrow and database drivers release the GIL), and the queue's
byte budget gives backpressure from store to home, so memory does not grow with the data.
The same `run_unit` runs in local threads and on Dask workers.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from hygge_core import faults
from hygge_core.errors import Cancelled
from hygge_core.home import Home
from hygge_core.memory import UnitShare
from hygge_core.state import cursor_arrow_type, decode_cursor, encode_cursor
from hygge_core.store import StagedUnit, Store
from hygge_core.units import WorkUnit

if TYPE_CHECKING:
    from hygge_core.shaping import Shaping

_DONE = object()


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

    def close(self) -> int:
        """Wake and cancel a blocked producer; the consumer will not read any more.

        Returns the bytes of the batches it dropped, so that whoever counted them can stop.
        """
        with self._cond:
            dropped = self._bytes
            self._closed = True
            self._items.clear()
            self._bytes = 0
            self._cond.notify_all()
            return dropped


@dataclass(frozen=True)
class UnitResult:
    """What moving one unit produced: the store's receipt, the unit's cursor maximum and
    the partial results of the flow's checks (small plain data, one dict per check)."""

    staged: StagedUnit
    rows: int
    bytes: int
    cursor_max: pa.Scalar | None = None
    resumed: bool = False
    checks: tuple[dict[str, Any], ...] | None = None

    def to_record(self) -> dict[str, Any]:
        """Plain JSON-able data, for `Store.remember`."""
        cursor = None
        if self.cursor_max is not None:
            value, arrow_type = encode_cursor(self.cursor_max)
            cursor = {"value": value, "arrow_type": arrow_type}
        staged = {
            "unit_id": self.staged.unit_id,
            "rows": self.staged.rows,
            "bytes": self.staged.bytes,
            "payload": self.staged.payload,
        }
        record = {"staged": staged, "rows": self.rows, "bytes": self.bytes, "cursor": cursor}
        if self.checks is not None:
            record["checks"] = list(self.checks)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> UnitResult:
        """Invert `to_record` (for a unit adopted from a crashed run)."""
        cursor = record.get("cursor")
        top = None
        if cursor is not None:
            arrow_type = cursor_arrow_type(cursor["arrow_type"])
            top = pa.scalar(decode_cursor(cursor["value"], cursor["arrow_type"]), arrow_type)
        return cls(
            staged=StagedUnit(**record["staged"]),
            rows=record["rows"],
            bytes=record["bytes"],
            cursor_max=top,
            resumed=True,
            checks=tuple(record["checks"]) if "checks" in record else None,
        )


BatchCallback = Callable[[WorkUnit, pa.RecordBatch], None]


def run_unit(
    home: Home,
    store: Store,
    unit: WorkUnit,
    *,
    budget: int = 64 << 20,
    cursor: str | None = None,
    on_batch: BatchCallback | None = None,
    shaping: Shaping | None = None,
) -> UnitResult:
    """Read `unit` from `home` in a thread and stage it into `store` in this one.

    `shaping` (the flow's transforms and checks) is applied to every batch between the two:
    the cursor's maximum is taken before it (rows a filter drops were still read), the
    checks see the transformed batch, which is what the store stages.

    `budget` is the unit's whole share of the flow's budget; the batches in flight between
    reader and writer get their part of it (`UnitShare.queue`), and are counted as held by
    the flow from the moment they are queued until the store asks for the next one.
    """
    queue = ByteBudgetQueue(UnitShare(budget).queue)
    meter = home.context.memory
    failure: list[BaseException] = []

    counts = {"rows": 0, "bytes": 0}
    maxima: list[pa.Scalar] = []
    partials: list[dict[str, Any]] | None = None
    if shaping:
        from hygge_core.checks import UnitScope

        ctx = home.context
        partials = shaping.open(
            UnitScope(ctx.flow, ctx.run_id, unit.id, unit.seq, ctx.memory.budget)
        )

    def produce() -> None:
        # The reader thread also transforms and checks each batch, so that this work
        # overlaps with the store encoding the batch before.
        try:
            for batch in home.read(unit):
                if not batch.num_rows:
                    continue
                if cursor is not None:
                    # Vectorised max of one column, before any transform: rows a filter
                    # drops were still read, and must not be read again.
                    m = _pc().max(batch.column(cursor))
                    if m.is_valid:
                        maxima.append(m)
                if shaping:
                    batch = shaping.apply(batch)
                    shaping.observe(partials or [], batch)
                    if not batch.num_rows:
                        continue  # a filter kept nothing of this batch
                size = batch.nbytes
                meter.hold(size)
                try:
                    queue.put(batch, size)
                except Cancelled:
                    meter.hold(-size)
                    raise
        except Cancelled:
            return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            failure.append(exc)
        try:
            queue.put(_DONE)
        except Cancelled:
            return

    def consume() -> Iterator[pa.RecordBatch]:
        while True:
            item = queue.get()
            if item is _DONE:
                if failure:
                    raise failure[0]
                return
            size = item.nbytes
            try:
                counts["rows"] += item.num_rows
                counts["bytes"] += size
                if on_batch is not None:
                    on_batch(unit, item)
                yield item
            finally:
                meter.hold(-size)
            faults.fault_point("batch.staged")

    reader = threading.Thread(target=produce, name=f"hygge-read-{unit.id}", daemon=True)
    reader.start()
    try:
        staged = store.stage(unit, consume())
        if failure:  # the store may have stopped pulling before it saw the reader's error
            raise failure[0]
    finally:
        meter.hold(-queue.close())
        reader.join()
        if shaping and partials is not None:
            shaping.finish(partials)  # also on failure: spill files are closed
    top = None
    if maxima:
        top = _pc().max(pa.array([m.as_py() for m in maxima], type=maxima[0].type))
    result = UnitResult(
        staged=staged,
        rows=counts["rows"],
        bytes=counts["bytes"],
        cursor_max=top,
        checks=tuple(partials) if partials is not None else None,
    )
    if store.supports_resume:
        store.remember(fingerprint(unit), result.to_record())
    faults.fault_point("unit.staged")
    return result


def _pc() -> Any:
    """pyarrow.compute, imported on first use: only incremental flows need it, and its
    import is a noticeable part of a small run's start-up."""
    import pyarrow.compute as pc

    return pc


def fingerprint(unit: WorkUnit) -> str:
    """What identifies a unit's work across runs: its id, payload and window.

    A unit staged by a crashed run is adopted only by a unit with the same fingerprint, so
    a changed input (another file size, another incremental window) is read again.
    """
    window = None
    if unit.window is not None:
        window = [unit.window.cursor, repr(unit.window.after)]
    text = json.dumps([unit.id, unit.payload, window], sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
