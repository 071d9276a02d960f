"""What the hooks see of a run while it goes: each flow's start and each unit staged, kept
for the OpenTelemetry spans built when the run ends (see otel.py). Loaded with the plugin
at every start, so it imports nothing beyond the standard library's basics."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class FlowTimes:
    """What the hooks saw of one flow's run: its start and each staged unit."""

    started_ns: int
    home: str = ""
    store: str = ""
    mode: str = ""
    units: list[tuple[str, int, int, int]] = field(default_factory=list)  # id, end, rows, bytes


class Timeline:
    """Flow and unit times of the runs in progress, by run id (hooks fire on many
    threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flows: dict[str, FlowTimes] = {}

    def flow_started(self, run_id: str, home: str, store: str, mode: str) -> None:
        with self._lock:
            # A retried attempt starts again: keep the first start, drop the units staged
            # by the attempt that failed (they were aborted).
            old = self._flows.get(run_id)
            self._flows[run_id] = FlowTimes(
                old.started_ns if old else time.time_ns(), home, store, mode
            )

    def unit_staged(self, run_id: str, unit: str, rows: int, nbytes: int) -> None:
        with self._lock:
            times = self._flows.get(run_id)
            if times is not None:
                times.units.append((unit, time.time_ns(), rows, nbytes))

    def pop(self, run_id: str | None) -> FlowTimes | None:
        with self._lock:
            return self._flows.pop(run_id or "", None)
