"""The byte budget: how much a run and each flow may hold, and how much they do hold.

One run-wide budget (`hygge run --memory`, `memory:` at the top of flows.yaml, else sized
from the container by `sizing`) is shared by the flows that run at once: a flow takes its
`memory:` (at most the run's) from the run's pool before it moves units and gives it back
when they are staged. A flow's budget admits units: at most `budget // MIN_UNIT_BYTES` units
are in flight, whatever `parallelism` says, and each gets an equal share that covers its
reader's block, its batches in flight and its writer's open row group (`UnitShare`).

What hygge holds is counted in a `FlowMemory` that homes, stores and the pipeline update, so
the summary can show each flow's peak next to the process's peak RSS.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

# The smallest share a unit in flight gets. Below it a unit's row groups get small enough to
# slow Parquet writing down, and a reader's batch alone would fill the queue.
MIN_UNIT_BYTES = 32 << 20


@dataclass(frozen=True)
class UnitShare:
    """How one unit in flight splits its share: what each part may hold, in bytes.

    The writer's open row group or buffer gets three quarters, because it is the large part
    (a Parquet row group gathers up to `row_group_rows` rows, and the encoder holds the
    group's encoded pages beside it until the group is written). The reader's block (a CSV
    parse block, a Parquet read buffer) and the batches queued between reader and writer
    get an eighth each: a batch or two is all the queue needs to keep both threads busy.
    """

    total: int

    @property
    def reader(self) -> int:
        """Bytes a Home may read ahead or parse at once for one unit."""
        return max(1, self.total // 8)

    @property
    def queue(self) -> int:
        """Bytes of batches in flight between a unit's reader and writer."""
        return max(1, self.total // 8)

    @property
    def writer(self) -> int:
        """Bytes a Store may hold in one unit's open row group or buffer (with its encoder's
        buffers)."""
        return max(1, self.total - self.reader - self.queue)


class FlowMemory:
    """A flow's byte budget, its units in flight, and the bytes it holds (counted, not RSS).

    Homes and stores call `hold(+n)` when they keep `n` bytes (a block read ahead, a row
    group gathering) and `hold(-n)` when they let them go. On a Dask worker the object is a
    copy: counts made there stay there, and the driver shows what it counted itself.
    """

    def __init__(self, budget: int, units: int = 1, why: str = "") -> None:
        self.budget = budget
        self.units = max(1, units)
        self.why = why
        self.share = UnitShare(max(1, budget // self.units))
        self.held = 0
        self.peak = 0
        self.flushed_early = 0
        self._lock = threading.Lock()

    def hold(self, delta: int) -> None:
        """Count `delta` more (or, negative, fewer) bytes held by this flow."""
        with self._lock:
            self.held += delta
            if self.held > self.peak:
                self.peak = self.held

    def flushed(self, count: int = 1) -> None:
        """A writer wrote out `count` row groups or buffers early to stay within its share."""
        with self._lock:
            self.flushed_early += count

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def units_in_flight(budget: int, parallelism: int, units: int) -> tuple[int, str]:
    """How many units of a flow move at once, and why that many."""
    by_budget = max(1, budget // MIN_UNIT_BYTES)
    count = max(1, min(parallelism, by_budget, max(units, 1)))
    if count == by_budget and by_budget < parallelism and by_budget < units:
        why = f"parallelism {parallelism} capped by the budget ({MIN_UNIT_BYTES >> 20} MiB a unit)"
    elif units < parallelism:
        why = f"{units} work unit(s) in the plan"
    else:
        why = f"parallelism {parallelism}"
    return count, why


class RunBudget:
    """The run-wide pool of bytes that concurrent flows take their budgets from.

    `take` blocks until some of the pool is free; a flow then gets what it asked for or what
    is free, whichever is smaller (at least one unit's worth), so a second flow runs with
    fewer units in flight instead of pushing the process past the budget.
    """

    def __init__(self, total: int, why: str = "") -> None:
        self.total = max(1, total)
        self.why = why
        self._free = self.total
        self._cond = threading.Condition()

    def take(self, want: int, stop: threading.Event | None = None) -> int:
        """Reserve up to `want` bytes; return how many were reserved, or 0 when `stop` was
        set while waiting (the run is being stopped: the flow must not start)."""
        want = max(1, min(want, self.total))
        least = min(want, MIN_UNIT_BYTES)
        with self._cond:
            while self._free < least:
                if stop is not None and stop.is_set():
                    return 0
                # Woken by `give`; the timeout only lets a stop be noticed.
                self._cond.wait(0.25)
            got = min(want, self._free)
            self._free -= got
            return got

    def give(self, nbytes: int) -> None:
        """Return bytes reserved by `take`."""
        with self._cond:
            self._free = min(self.total, self._free + nbytes)
            self._cond.notify_all()
