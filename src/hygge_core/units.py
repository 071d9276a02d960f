"""Work units: the plain-data pieces a Home splits its read into.

A unit holds no open connection or file handle, so it pickles to another thread, process or
Dask worker. Its `id` is stable across runs for the same input, which is what lets a store
name staged output deterministically and lets a resumed run skip units already committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Window:
    """The slice of an incremental home to read: rows whose cursor is strictly after `after`.

    `after` is None on a first (full) load. Values are Python scalars as Arrow returns them
    (int, float, str, datetime, date, Decimal); a timezone-aware cursor stays aware.
    """

    cursor: str
    after: Any = None


@dataclass(frozen=True)
class WorkUnit:
    """One independent piece of a Home's read.

    `id` is unique within a flow's plan and deterministic for the same input (a file path and
    row-group range, a key range). `payload` is the Home's own plain data describing the piece.
    `window` is the incremental window the piece reads, if any. `seq` is the unit's place in
    the plan (set by the runner), which stores use to name output in the home's order.
    """

    id: str
    payload: dict[str, Any] = field(default_factory=dict)
    window: Window | None = None
    estimated_rows: int | None = None
    estimated_bytes: int | None = None
    seq: int = 0
