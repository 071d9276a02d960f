"""The default executor: work units on a thread pool in this process."""

from __future__ import annotations

from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait

from hygge_core.executor import Executor, UnitResult, UnitsRequest, run_unit
from hygge_core.units import WorkUnit


class LocalExecutor(Executor):
    """Runs up to `parallelism` units of a flow at once, each with a reader thread and a
    writer thread, sharing the flow's byte budget."""

    def run_units(self, request: UnitsRequest) -> list[UnitResult]:
        units = request.units
        if not units:
            return []
        workers = max(1, min(request.parallelism or len(units), len(units)))
        per_unit = request.budget // workers

        def one(unit: WorkUnit) -> UnitResult:
            result = run_unit(
                request.home,
                request.store,
                unit,
                budget=per_unit,
                cursor=request.cursor,
                on_batch=request.on_batch,
                shaping=request.shaping,
            )
            if request.on_unit is not None:
                request.on_unit(unit, result)
            return result

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hygge-unit") as pool:
            futures: list[Future[UnitResult]] = [pool.submit(one, u) for u in units]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for f in done:
                if f.exception() is not None:
                    for other in futures:
                        other.cancel()
                    wait(futures)
                    raise f.exception()  # type: ignore[misc]
            return [f.result() for f in futures]
