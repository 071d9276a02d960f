"""What runs on a Dask worker: one work unit, from a pickled Home and Store to a receipt.

A worker needs only hygge-core, this package and the flow's plugins installed. The Home and
Store arrive pickled (their `transient` attributes dropped), are used for one unit and then
closed, so a long-lived worker keeps no connection of a flow that has finished.
"""

from __future__ import annotations

import contextlib
import pickle
import time
import traceback
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from hygge_core import (
    FlowMemory,
    Home,
    PermanentError,
    Store,
    TransientError,
    WorkUnit,
    describe_error,
    is_transient,
)
from hygge_core.executor import Cancelled, UnitResult, run_unit

# How often a running unit asks the scheduler whether its run was cancelled: often enough
# that a failed flow stops within a second, rarely enough to cost nothing next to a batch.
CANCEL_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class UnitDone:
    """One unit's result, with the worker that staged it and how long that took."""

    result: UnitResult
    worker: str
    seconds: float


class _RemoteFailure(Exception):
    """A unit's failure as the driver reports it: one line naming the unit and the worker,
    plus the worker-side traceback for `--verbose` logs. Pickles by its args."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message, detail)

    def __str__(self) -> str:
        return str(self.args[0])

    @property
    def detail(self) -> str:
        """The traceback on the worker, for debug logs."""
        return str(self.args[1])


class UnitFailed(_RemoteFailure, PermanentError):
    """A unit failed on a worker and retrying will not help (bad data, permissions, a bug)."""


class UnitFailedTransient(_RemoteFailure, TransientError):
    """A unit failed on a worker with a fault that may pass (a dropped connection)."""


def pack(home: Home, store: Store) -> bytes:
    """The Home and Store as one pickle, made once per flow on the driver.

    It is small (the configs and the flow context, about a kilobyte without connections),
    so every unit's task carries its own copy: tasks without dependencies are what Dask
    spreads evenly over free worker threads, and a lost worker takes no shared data along.
    """
    return pickle.dumps((home, store), protocol=pickle.HIGHEST_PROTOCOL)


class _CancelCheck:
    """Asks the scheduler-side `distributed.Event` of the run, at most every half second."""

    def __init__(self, name: str) -> None:
        from distributed import Event

        self.event = Event(name)
        self.last = 0.0

    def __call__(self, unit: WorkUnit | None = None, batch: pa.RecordBatch | None = None) -> None:
        now = time.monotonic()
        if now - self.last < CANCEL_POLL_SECONDS:
            return
        self.last = now
        if self.event.is_set():
            raise Cancelled("cancelled: another unit of the flow failed")


def stage_unit(
    objects: bytes,
    unit: WorkUnit,
    *,
    budget: int,
    cursor: str | None,
    cancel: str,
    shaping: Any = None,
) -> UnitDone:
    """Stage one unit on this worker with `hygge_core.executor.run_unit`.

    Raises `Cancelled` when the driver cancelled the run, else `UnitFailed` or
    `UnitFailedTransient` whose message names the unit and this worker's address.
    """
    from distributed import get_worker

    address = get_worker().address
    started = time.monotonic()
    check = _CancelCheck(cancel)
    check()
    home: Home | None = None
    store: Store | None = None
    try:
        home, store = pickle.loads(objects)
        # The unit's share on this worker (the flow's budget over a worker's threads) bounds
        # its reader's block, its batches in flight and its writer's open row group.
        home.context.memory = store.context.memory = FlowMemory(budget)
        result = run_unit(
            home, store, unit, budget=budget, cursor=cursor, on_batch=check, shaping=shaping
        )
    except Cancelled:
        raise
    except Exception as exc:
        cls = UnitFailedTransient if is_transient(exc) else UnitFailed
        message = f"unit {unit.id} failed on dask worker {address}: {describe_error(exc)}"
        raise cls(message, traceback.format_exc()) from None
    finally:
        for obj in (home, store):
            if obj is not None:
                # Closing must not hide the unit's own outcome.
                with contextlib.suppress(Exception):
                    obj.close()
    return UnitDone(result, address, time.monotonic() - started)


def probe(objects: bytes) -> str | None:
    """Run on every worker before a flow's units: can this worker load the flow's Home and
    Store? None if so, else why not (most often a plugin missing from the worker)."""
    try:
        home, store = pickle.loads(objects)
    except ModuleNotFoundError as exc:
        return f"module:{exc.name}"
    except Exception as exc:
        return describe_error(exc)
    for obj in (home, store):
        with contextlib.suppress(Exception):  # a copy that never opened anything
            obj.close()
    return None
