"""The Executor contract: where a flow's work units run."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from hygge_core.home import Home
from hygge_core.pipeline import BatchCallback, UnitResult
from hygge_core.store import Store
from hygge_core.units import WorkUnit

UnitCallback = Callable[[WorkUnit, UnitResult], None]


class Executor(ABC):
    """Runs the work units of flows and returns their staged receipts to the driver.

    The driver (the `hygge run` process) always plans and commits; an executor only moves
    units. It must return exactly one result per unit or raise: a unit retried after a lost
    worker must not yield two receipts, because commit publishes every receipt it is given.

    `reports_batches` says whether `run_units` calls `on_batch` for every batch. An executor
    whose units run in other processes (Dask) cannot hand batches back and sets it False;
    it calls `on_unit` as each unit's receipt arrives, and progress is counted per unit.
    """

    reports_batches: ClassVar[bool] = True
    # False when units run in other processes (Dask): hygge then refuses flows whose home
    # or store declares `single_process`.
    in_process: ClassVar[bool] = True

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = options or {}

    def default_parallelism(self) -> int | None:
        """Units of one flow at once when its config sets no `parallelism`: one per core the
        process may use (the cgroup's CPU quota or the affinity mask, not the host's count;
        the flow's byte budget may admit fewer). None means no limit of hygge's: as many as
        the executor's workers run (a cluster's threads), which a flow's explicit
        `parallelism` still caps."""
        from hygge_core.sizing import detect

        return detect().cores

    @abstractmethod
    def run_units(
        self,
        home: Home,
        store: Store,
        units: list[WorkUnit],
        *,
        parallelism: int | None,
        budget: int,
        cursor: str | None,
        on_batch: BatchCallback | None = None,
        on_unit: UnitCallback | None = None,
    ) -> list[UnitResult]:
        """Stage every unit, at most `parallelism` at once (None: no limit of hygge's);
        results in the order of `units`. On error, raise after the units already started
        have stopped, so the caller can abort what was staged."""

    def describe(self) -> str:
        """A short description for logs (e.g. the scheduler address)."""
        return type(self).__name__

    def close(self) -> None:
        """Release the executor's resources at the end of `hygge run`."""
