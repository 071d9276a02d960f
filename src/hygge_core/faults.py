"""Named fault points, for proving crash safety: `kill -9` or an error at an exact step.

Production code calls `point("commit.record")` at each step where a crash would matter.
Nothing happens unless `HYGGE_FAULTS` is set, e.g.::

    HYGGE_FAULTS="commit.move@3=kill"         # SIGKILL ourselves at the 3rd file move
    HYGGE_FAULTS="unit.staged@2=transient"    # raise TransientError at the 2nd unit staged
    HYGGE_FAULTS="commit.move@1=oserror:ENOSPC;batch.staged@5=kill"
    HYGGE_FAULTS="commit.record@1=sleep:3"    # pause 3 s there (to make two runs overlap)
    HYGGE_FAULTS="batch.staged@1=sleep:30"    # hang there (a step that will not stop)

Each rule fires once per process (a retried attempt gets past it). The kill loops in
tests/exactly_once choose points and counts at random, seeded, and then re-run cleanly.
"""

from __future__ import annotations

import errno
import os
import signal
import threading
import time

from hygge_core.errors import PermanentError, TransientError

# Every point production code declares; tests draw from this list.
POINTS = (
    "batch.staged",  # a batch was handed to the store's staging writer
    "unit.staged",  # a unit's staging finished
    "commit.start",  # about to commit: everything staged
    "commit.record",  # a file commit record was written (the commit is decided)
    "commit.move",  # one staged file was moved into place
    "commit.state",  # the new state was written, the record not yet removed
    "commit.done",  # a commit finished, before cleanup and the summary
)

_lock = threading.Lock()
_counts: dict[str, int] = {}
_fired: set[str] = set()


def _rules() -> dict[str, tuple[int, str]]:
    spec = os.environ.get("HYGGE_FAULTS", "")
    rules = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        where, _, action = part.partition("=")
        name, _, nth = where.partition("@")
        rules[name] = (int(nth or 1), action or "kill")
    return rules


def point(name: str) -> None:
    """Mark step `name`; under `HYGGE_FAULTS` this may kill the process or raise."""
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
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
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
