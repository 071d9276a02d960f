"""The plain-data events passed to lifecycle hooks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FlowEvent:
    """A flow started or finished. Counters are zero at start."""

    flow: str
    run_id: str
    home: str
    store: str
    mode: str
    units: int = 0
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class BatchEvent:
    """One batch staged by a store."""

    flow: str
    run_id: str
    unit: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class FlowFailedEvent:
    """A flow failed; `error` is the one-line message shown to the user."""

    flow: str
    run_id: str
    error: str
    seconds: float = 0.0
