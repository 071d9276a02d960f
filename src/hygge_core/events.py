"""The plain-data events passed to lifecycle hooks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FlowEvent:
    """A flow started or finished. Counters are zero at start.

    `cursor` and `after` describe the incremental window (`cursor > after`; `after` is None
    on a first load, both None for a full read); `estimated_rows` is the sum of the planned
    units' estimates (0 when the home gives none).
    """

    flow: str
    run_id: str
    home: str
    store: str
    mode: str
    units: int = 0
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    cursor: str | None = None
    after: Any = None
    estimated_rows: int = 0
    # The byte budget (issue 14): the flow's, as admitted, and its units in flight, with
    # the reason; the run's budget and cores, with where they came from.
    budget: int = 0
    units_in_flight: int = 0
    budget_why: str = ""
    run_budget: int = 0
    cores: int = 0
    sizing_why: str = ""
    # At finish: the flow's peak bytes held as hygge counts them, row groups or buffers
    # written early to stay within the budget, and the process's peak RSS so far.
    peak_bytes_held: int = 0
    flushed_early: int = 0
    peak_rss: int = 0


@dataclass(frozen=True)
class BatchEvent:
    """One batch staged by a store: `unit` is the work unit's id."""

    flow: str
    run_id: str
    unit: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class UnitEvent(BatchEvent):
    """One work unit staged, its receipt back in the driver (on every executor): the same
    fields as a batch's, counting the whole unit."""


@dataclass(frozen=True)
class NoteEvent:
    """Something a flow's run did that the user should know: a recovery, a retry, resumed
    units, a flow skipped after another failed (`--fail-fast`)."""

    flow: str
    run_id: str
    message: str


@dataclass(frozen=True)
class FlowFailedEvent:
    """A flow failed; `error` is the one-line message shown to the user."""

    flow: str
    run_id: str
    error: str
    seconds: float = 0.0
    peak_bytes_held: int = 0
    peak_rss: int = 0


@dataclass(frozen=True)
class RunEvent:
    """A `hygge run` ended: one result per selected flow, in the order of flows.yaml.

    Each result has `name`, `status` ("ok", "failed", "skipped", or "planned" for
    `--dry-run`), `rows`, `bytes`, `seconds`, `rows_per_second`, `units`, `error`,
    `run_id`, `home_type` and `store_type` (the plugin type names), `retries` (transient
    faults retried) and `cursor_after` (an incremental flow's committed high-water mark, as
    the Python value of its column; None otherwise), `memory` (the flow's
    `FlowMemory`: `budget`, `units`, `peak` bytes held; None when the flow never planned) and
    `peak_rss` (the process's, bytes). `ok` is True when every flow succeeded (the exit code
    is 0). `settings` maps each top-level section of flows.yaml
    that a plugin registered (`hygge_register_settings`) to its validated model.
    """

    results: tuple[Any, ...]
    dry_run: bool = False
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every flow succeeded."""
        return all(r.status == "ok" for r in self.results)
