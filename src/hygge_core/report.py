"""What a run shows: progress per flow, notes, and a summary; for people or machines.

Every line passes through the run's `Redactor`, so no reporter can print a secret.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hygge_core.secrets import Redactor
from hygge_core.units import Window, WorkUnit

if TYPE_CHECKING:
    from rich.progress import TaskID

    from hygge_core.memory import FlowMemory
    from hygge_core.runner import FlowResult


def human_bytes(n: float) -> str:
    """1536 → '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class Reporter:
    """Plain lines on stderr: one when a flow starts, notes, and one when it ends."""

    def __init__(self, redact: Redactor | None = None, stream: IO[str] | None = None) -> None:
        self.redact = redact or Redactor()
        self.stream = stream or sys.stderr
        self.lock = threading.Lock()

    def emit(self, text: str) -> None:
        """Write one redacted line."""
        with self.lock:
            print(self.redact(text), file=self.stream, flush=True)

    def note(self, flow: str, text: str) -> None:
        """Something the run did that the user should know (e.g. a recovery)."""
        self.emit(f"[{flow}] {text}")

    def flow_started(self, flow: str, units: list[WorkUnit], window: Window | None) -> None:
        """A flow planned its units and starts moving them."""
        extra = (
            f", {window.cursor} > {window.after!r}" if window and window.after is not None else ""
        )
        self.emit(f"[{flow}] started: {len(units)} work unit(s){extra}")

    def progress(self, flow: str, rows: int, nbytes: int) -> None:
        """A batch was staged (plain output stays quiet until the flow ends)."""

    def run_sizing(self, sizing: dict[str, Any]) -> None:
        """The run-wide budget and cores chosen, and why (`--dry-run` prints them)."""

    def flow_memory(self, flow: str, memory: FlowMemory) -> None:
        """A flow's budget as admitted, with its units in flight (shown by `--dry-run`)."""

    def flow_finished(self, result: FlowResult) -> None:
        """A flow ended, well or not."""
        if result.status == "ok":
            self.emit(f"[{result.name}] committed {result.rows:,} rows in {result.seconds:.2f}s")
        elif result.status == "failed":
            self.emit(f"[{result.name}] FAILED: {result.error}")
        elif result.status == "skipped":
            self.emit(f"[{result.name}] {result.error}")

    def summary(self, results: list[FlowResult], console: Console | None = None) -> None:
        """The closing table: flow, status, rows, seconds, rows/s."""
        table = Table(title="hygge run summary", title_justify="left")
        for col, justify in (
            ("flow", "left"),
            ("status", "left"),
            ("rows", "right"),
            ("bytes", "right"),
            ("seconds", "right"),
            ("rows/s", "right"),
            ("peak held / budget", "right"),
        ):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for r in results:
            table.add_row(
                escape(r.name),
                r.status,
                f"{r.rows:,}",
                human_bytes(r.bytes),
                f"{r.seconds:.2f}",
                f"{r.rows_per_second:,.0f}",
                _held(r),
            )
        out = console or Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)
        out.print(table)
        rss = max((r.peak_rss for r in results), default=0)
        if rss:
            # hygge's count covers what the budget covers; the rest of the resident set is
            # the interpreter, libraries and allocator slack. A peak held far below the RSS
            # means memory went somewhere the budget does not see.
            out.print(f"process peak RSS: {human_bytes(rss)}", markup=False, highlight=False)
        for r in results:
            if r.status == "failed" and r.error:
                out.print(f"{r.name}: {self.redact(r.error)}", markup=False, highlight=False)

    def close(self) -> None:
        """Stop any live display."""


def _held(r: FlowResult) -> str:
    if r.memory is None:
        return ""
    return f"{human_bytes(r.memory.peak)} / {human_bytes(r.memory.budget)}"


def memory_fields(memory: FlowMemory | None) -> dict[str, Any]:
    """A flow's budget, units in flight and peak held, as JSON fields."""
    if memory is None:
        return {}
    return {
        "budget": memory.budget,
        "units_in_flight": memory.units,
        "unit_share": memory.share.total,
        "budget_why": memory.why,
        "peak_bytes_held": memory.peak,
        "flushed_early": memory.flushed_early,
    }


class JsonReporter(Reporter):
    """One JSON object per line on stderr, and a JSON summary on stdout."""

    def emit_json(self, event: str, **fields: Any) -> None:
        """Write one redacted JSON line."""
        record = {"ts": time.time(), "event": event, **fields}
        self.emit(json.dumps(record, default=str))

    def note(self, flow: str, text: str) -> None:
        self.emit_json("note", flow=flow, message=text)

    def flow_started(self, flow: str, units: list[WorkUnit], window: Window | None) -> None:
        self.emit_json(
            "flow_started", flow=flow, units=len(units), after=window.after if window else None
        )

    def run_sizing(self, sizing: dict[str, Any]) -> None:
        self.emit_json("run_sizing", **sizing)

    def flow_memory(self, flow: str, memory: FlowMemory) -> None:
        fields = memory_fields(memory)
        for key in ("peak_bytes_held", "flushed_early"):
            fields.pop(key)
        self.emit_json("flow_memory", flow=flow, **fields)

    def flow_finished(self, result: FlowResult) -> None:
        self.emit_json(
            "flow_finished",
            flow=result.name,
            status=result.status,
            rows=result.rows,
            bytes=result.bytes,
            seconds=round(result.seconds, 3),
            error=result.error,
            run_id=result.run_id,
            peak_rss=result.peak_rss,
            **memory_fields(result.memory),
        )

    def summary(self, results: list[FlowResult], console: Console | None = None) -> None:
        flows = [
            {
                "flow": r.name,
                "status": r.status,
                "rows": r.rows,
                "bytes": r.bytes,
                "seconds": round(r.seconds, 3),
                "rows_per_second": round(r.rows_per_second),
                "error": r.error,
                "run_id": r.run_id,
                "peak_rss": r.peak_rss,
                **memory_fields(r.memory),
            }
            for r in results
        ]
        ok = all(r.status == "ok" for r in results)
        print(
            self.redact(json.dumps({"event": "summary", "ok": ok, "flows": flows}, default=str)),
            flush=True,
        )


class LiveReporter(Reporter):
    """A progress bar per flow on a terminal: rows, bytes and rate as batches land."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__(redact)
        # Imported here: only a terminal gets progress bars.
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.bars = Progress(
            TextColumn("[bold]{task.fields[flow]}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f} rows"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.started: dict[str, float] = {}
        self.bars.start()

    def emit(self, text: str) -> None:
        self.bars.console.print(self.redact(text), markup=False, highlight=False)

    def flow_started(self, flow: str, units: list[WorkUnit], window: Window | None) -> None:
        with self.lock:
            total = sum(u.estimated_rows or 0 for u in units) or None
            if flow not in self.tasks:
                self.tasks[flow] = self.bars.add_task("", total=total, flow=flow, rate="")
            self.started[flow] = time.monotonic()

    def progress(self, flow: str, rows: int, nbytes: int) -> None:
        with self.lock:
            task = self.tasks.get(flow)
            if task is None:
                return
            self.bars.advance(task, rows)
            done = self.bars.tasks[task].completed if task < len(self.bars.tasks) else 0
            rate = done / max(time.monotonic() - self.started[flow], 1e-6)
            self.bars.update(task, rate=f"{rate:,.0f} rows/s")

    def flow_finished(self, result: FlowResult) -> None:
        with self.lock:
            task = self.tasks.get(result.name)
            if task is not None:
                self.bars.update(
                    task, total=max(result.rows, 1), completed=result.rows, rate=result.status
                )
        if result.status != "ok":
            super().flow_finished(result)

    def close(self) -> None:
        self.bars.stop()
