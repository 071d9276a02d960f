"""Named fault points, for proving crash safety: `kill -9` or an error at an exact step.

Code calls `fault_point("commit.record")` at each step where a crash would matter: hygge-core
marks the steps of a run and of the file commit protocol (`POINTS`), and a Store marks the
steps of its own commit and lists them in `Store.fault_points`, so that the kit kills a run
at each of them. Nothing happens unless `HYGGE_FAULTS` is set, e.g.::

    HYGGE_FAULTS="commit.move@3=kill"            # SIGKILL ourselves at the 3rd file move
    HYGGE_FAULTS="unit.staged@2=transient"       # raise TransientError at the 2nd unit staged
    HYGGE_FAULTS="commit.start=kill-after:0.02"  # SIGKILL 20 ms after the commit began
    HYGGE_FAULTS="commit.move@1=oserror:ENOSPC;batch.staged@5=kill"
    HYGGE_FAULTS="commit.record@1=sleep:3"       # pause 3 s there (to make two runs overlap)
    HYGGE_FAULTS="batch.staged@1=sleep:30"       # hang there (a step that will not stop)

Each rule fires once per process (a retried attempt gets past it). The kit's commit-kill
checks and the kill loops in tests/exactly_once choose points and counts, then re-run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

from hygge_core.errors import PermanentError, TransientError

# Every point hygge-core itself marks; a store's own are in its `fault_points`.
# Public (docs/plugins/api.md, docs/plugins/store.md): a store marks its commit steps.
__all__ = ["POINTS", "fault_point", "observing"]

POINTS = (
    "batch.staged",  # a batch was handed to the store's staging writer
    "unit.staged",  # a unit's staging finished
    "commit.start",  # about to call the store's commit: everything staged
    "commit.record",  # a file commit record was written (the commit is decided)
    "commit.move",  # one staged file was moved into place
    "commit.state",  # the new state was written, the record not yet removed
    "commit.done",  # the store's commit returned, before cleanup and the summary
)

_lock = threading.Lock()
_counts: dict[str, int] = {}
_fired: set[str] = set()
_observers: list[Callable[[str], None]] = []


def _rules() -> dict[str, tuple[int, str]]:
    spec = os.environ.get("HYGGE_FAULTS", "")
    rules = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        where, _, action = part.partition("=")
        name, _, nth = where.partition("@")
        rules[name] = (int(nth or 1), action or "kill")
    return rules


def fault_point(name: str) -> None:
    """Mark step `name` of a run; under `HYGGE_FAULTS` this may kill the process or raise.

    Call it right after each durable step of a commit (a state row written, a transaction
    committed, a file moved), and list the names in your Store's `fault_points`. Costs one
    dictionary lookup when no fault is asked for.
    """
    for observe in list(_observers):
        observe(name)
    if "HYGGE_FAULTS" not in os.environ:
        return
    rule = _rules().get(name)
    if rule is None:
        return
    nth, action = rule
    with _lock:
        _counts[name] = _counts.get(name, 0) + 1
        if _counts[name] != nth or name in _fired:
            return
        _fired.add(name)
    _act(name, action)


def _act(name: str, action: str) -> None:
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action.startswith("kill-after:"):
        # The rest of the run goes on until the timer fires: a kill at an instant no fault
        # point names, measured from a step that one does.
        timer = threading.Timer(
            float(action.split(":", 1)[1]), os.kill, (os.getpid(), signal.SIGKILL)
        )
        timer.daemon = True
        timer.start()
        return
    if action == "transient":
        raise TransientError(f"injected transient fault at {name}")
    if action == "permanent":
        raise PermanentError(f"injected permanent fault at {name}")
    if action.startswith("sleep:"):
        time.sleep(float(action.split(":", 1)[1]))
        return
    if action.startswith("oserror:"):
        code = getattr(errno, action.split(":", 1)[1])
        raise OSError(code, os.strerror(code))
    raise ValueError(f"unknown fault action {action!r} in HYGGE_FAULTS")


@contextlib.contextmanager
def observing(callback: Callable[[str], None]) -> Iterator[None]:
    """Call `callback(name)` at every fault point passed in this process while inside.

    For tests: the kit times a commit with it and raises its in-process crash from it. An
    exception the callback raises comes out of `fault_point`, as a crash there would.
    """
    _observers.append(callback)
    try:
        yield
    finally:
        _observers.remove(callback)
