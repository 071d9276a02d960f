"""The Executor contract: where a flow's work units run.

This module is public (docs/plugins/api.md): an executor plugin needs nothing else from
hygge-core than what `__all__` lists. `run_unit` is what each worker does with one unit;
`UnitResult` is the receipt it hands back; `Cancelled` stops a unit from a callback.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from hygge_core.home import Home
from hygge_core.pipeline import BatchCallback, Cancelled, UnitResult, run_unit
from hygge_core.store import Store
from hygge_core.units import WorkUnit

if TYPE_CHECKING:
    from hygge_core.shaping import Shaping

__all__ = [
    "BatchCallback",
    "Cancelled",
    "Executor",
    "UnitCallback",
    "UnitResult",
    "UnitsRequest",
    "run_unit",
]

UnitCallback = Callable[[WorkUnit, UnitResult], None]
"""Called with each unit and its receipt as the unit finishes staging."""


@dataclass(frozen=True)
class UnitsRequest:
    """What the runner asks of an executor for one flow: stage `units` of `home` into `store`.

    `parallelism` caps the units in flight (None: no limit of hygge's); `budget` is the
    flow's byte budget for batches in flight, shared by its units; `cursor` names the
    incremental cursor column whose maximum each `UnitResult` carries. `on_batch` is called
    for every batch (where `Executor.reports_batches`), `on_unit` for every finished unit.
    `shaping` holds the flow's transforms and checks: an executor passes it on, as it is, to
    `run_unit(..., shaping=request.shaping)` (it pickles; the receipts carry the checks'
    partial results back).
    """

    home: Home
    store: Store
    units: list[WorkUnit]
    parallelism: int | None
    budget: int
    cursor: str | None = None
    on_batch: BatchCallback | None = None
    on_unit: UnitCallback | None = None
    shaping: Shaping | None = None


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
    def run_units(self, request: UnitsRequest) -> list[UnitResult]:
        """Stage every unit of `request`, at most `request.parallelism` at once; one result
        per unit, in the order of `request.units`. On error, raise after the units already
        started have stopped, so the caller can abort what was staged."""

    def describe(self) -> str:
        """A short description for logs (e.g. the scheduler address)."""
        return type(self).__name__

    def close(self) -> None:
        """Release the executor's resources at the end of `hygge run`."""
