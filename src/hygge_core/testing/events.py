"""An observer plugin for tests: it records every lifecycle hook call of a run."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from hygge_core import hookimpl

LIFECYCLE_HOOKS = (
    "hygge_flow_started",
    "hygge_batch_staged",
    "hygge_unit_staged",
    "hygge_flow_note",
    "hygge_flow_finished",
    "hygge_flow_failed",
    "hygge_run_finished",
)


class EventRecorder:
    """Pass to `hygge_core.api.run_file(..., observers=[recorder])`; afterwards `calls`
    holds `(hook name, event)` in the order the driver fired them and `counts()` how many
    times each lifecycle hook fired (every hook named, zeros included)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    def _record(self, hook: str, event: Any) -> None:
        with self._lock:  # batch and unit hooks fire from several threads at once
            self.calls.append((hook, event))

    def counts(self) -> dict[str, int]:
        """Calls per lifecycle hook."""
        seen = Counter(hook for hook, _ in self.calls)
        return {hook: seen[hook] for hook in LIFECYCLE_HOOKS}

    def events(self, hook: str) -> list[Any]:
        """The events passed to `hook`, in order."""
        return [event for name, event in self.calls if name == hook]

    @hookimpl
    def hygge_flow_started(self, event: Any) -> None:
        self._record("hygge_flow_started", event)

    @hookimpl
    def hygge_batch_staged(self, event: Any) -> None:
        self._record("hygge_batch_staged", event)

    @hookimpl
    def hygge_unit_staged(self, event: Any) -> None:
        self._record("hygge_unit_staged", event)

    @hookimpl
    def hygge_flow_note(self, event: Any) -> None:
        self._record("hygge_flow_note", event)

    @hookimpl
    def hygge_flow_finished(self, event: Any) -> None:
        self._record("hygge_flow_finished", event)

    @hookimpl
    def hygge_flow_failed(self, event: Any) -> None:
        self._record("hygge_flow_failed", event)

    @hookimpl
    def hygge_run_finished(self, event: Any) -> None:
        self._record("hygge_run_finished", event)
