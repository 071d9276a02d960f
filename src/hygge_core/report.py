"""What a run shows: progress per flow, notes, and a summary; for people or machines.

The reporters are lifecycle hook implementations, registered on the run's plugin manager
like any plugin (as pytest's terminal reporter is): the runner has one channel for what
happened, and a metrics or notification plugin sees the same events as the user does.
Every line passes through the run's `Redactor`, so no reporter can print a secret.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hygge_core import hookimpl
from hygge_core.secrets import Redactor

if TYPE_CHECKING:
    from rich.progress import TaskID

    from hygge_core.events import (
        BatchEvent,
        FlowEvent,
        FlowFailedEvent,
        NoteEvent,
        RunEvent,
        UnitEvent,
    )
    from hygge_core.runner import FlowResult


def human_bytes(n: float) -> str:
    """1536 → '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _same_place(a: IO[str], b: IO[str]) -> bool:
    """Whether two streams write to the same file, pipe or terminal (`2>&1`, a shell)."""
    try:
        sa, sb = os.fstat(a.fileno()), os.fstat(b.fileno())
    except (AttributeError, OSError, ValueError):  # not a real file (StringIO, captured)
        return False
    return (sa.st_dev, sa.st_ino, sa.st_rdev) == (sb.st_dev, sb.st_ino, sb.st_rdev)


class Reporter:
    """Plain lines on stderr: one when a flow starts, notes, and one when it ends; the
    summary table on stdout when the run ends."""

    def __init__(self, redact: Redactor | None = None, stream: IO[str] | None = None) -> None:
        self.redact = redact or Redactor()
        self.stream = stream or sys.stderr
        self.lock = threading.Lock()

    def emit(self, text: str) -> None:
        """Write one redacted line."""
        with self.lock:
            print(self.redact(text), file=self.stream, flush=True)

    @hookimpl
    def hygge_flow_note(self, event: NoteEvent) -> None:
        """Something the run did that the user should know (e.g. a recovery)."""
        self.emit(f"[{event.flow}] {event.message}")

    @hookimpl
    def hygge_flow_started(self, event: FlowEvent) -> None:
        """A flow planned its units and starts moving them."""
        extra = f", {event.cursor} > {event.after!r}" if event.after is not None else ""
        self.emit(f"[{event.flow}] started: {event.units} work unit(s){extra}")

    @hookimpl
    def hygge_flow_finished(self, event: FlowEvent) -> None:
        """A flow committed."""
        self.emit(f"[{event.flow}] committed {event.rows:,} rows in {event.seconds:.2f}s")

    @hookimpl
    def hygge_flow_failed(self, event: FlowFailedEvent) -> None:
        """A flow failed."""
        self.emit(f"[{event.flow}] FAILED: {event.error}")

    @hookimpl
    def hygge_run_finished(self, event: RunEvent) -> None:
        """The run ended: the summary (`--dry-run` prints its plan instead)."""
        if not event.dry_run:
            self.summary(list(event.results))

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
        if _same_place(out.file, self.stream):
            return  # each FAILED line above is in the same place: an error is printed once
        for r in results:
            if r.status == "failed" and r.error:
                out.print(f"{r.name}: {self.redact(r.error)}", markup=False, highlight=False)

    def close(self) -> None:
        """Stop any live display."""


def _held(r: FlowResult) -> str:
    if r.memory is None:
        return ""
    return f"{human_bytes(r.memory.peak)} / {human_bytes(r.memory.budget)}"


class JsonReporter(Reporter):
    """One JSON object per line on stderr, and a JSON summary on stdout."""

    def emit_json(self, event: str, **fields: Any) -> None:
        """Write one redacted JSON line."""
        record = {"ts": time.time(), "event": event, **fields}
        self.emit(json.dumps(record, default=str))

    @hookimpl
    def hygge_flow_note(self, event: NoteEvent) -> None:
        self.emit_json("note", flow=event.flow, message=event.message)

    @hookimpl
    def hygge_flow_started(self, event: FlowEvent) -> None:
        self.emit_json(
            "flow_started",
            flow=event.flow,
            units=event.units,
            after=event.after,
            budget=event.budget,
            units_in_flight=event.units_in_flight,
            budget_why=event.budget_why,
            run_budget=event.run_budget,
            cores=event.cores,
            sizing_why=event.sizing_why,
        )

    @hookimpl
    def hygge_flow_finished(self, event: FlowEvent) -> None:
        self.emit_json(
            "flow_finished",
            flow=event.flow,
            status="ok",
            rows=event.rows,
            bytes=event.bytes,
            seconds=round(event.seconds, 3),
            error=None,
            run_id=event.run_id,
            peak_bytes_held=event.peak_bytes_held,
            flushed_early=event.flushed_early,
            peak_rss=event.peak_rss,
        )

    @hookimpl
    def hygge_flow_failed(self, event: FlowFailedEvent) -> None:
        self.emit_json(
            "flow_finished",
            flow=event.flow,
            status="failed",
            seconds=round(event.seconds, 3),
            error=event.error,
            run_id=event.run_id,
            peak_bytes_held=event.peak_bytes_held,
            peak_rss=event.peak_rss,
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
                "budget": r.memory.budget if r.memory else None,
                "units_in_flight": r.memory.units if r.memory else None,
                "peak_bytes_held": r.memory.peak if r.memory else None,
                "peak_rss": r.peak_rss,
                "checks": [o.to_json() for o in r.checks],
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
        # Rows counted per (flow, unit) from batches, so that a unit's receipt adds only
        # what its batches did not (executors that report no batches, like Dask).
        self.counted: dict[tuple[str, str], int] = {}
        self.bars.start()

    def emit(self, text: str) -> None:
        self.bars.console.print(self.redact(text), markup=False, highlight=False)

    @hookimpl
    def hygge_flow_started(self, event: FlowEvent) -> None:
        with self.lock:
            total = event.estimated_rows or None
            task = self.tasks.get(event.flow)
            if task is None:
                self.tasks[event.flow] = self.bars.add_task(
                    "", total=total, flow=event.flow, rate=""
                )
            else:  # a retried attempt starts over
                self.bars.reset(task, total=total)
            self.counted = {k: v for k, v in self.counted.items() if k[0] != event.flow}
            self.started[event.flow] = time.monotonic()

    def _advance(self, flow: str, unit: str, rows: int) -> None:
        task = self.tasks.get(flow)
        if task is None or rows <= 0:
            return
        self.counted[(flow, unit)] = self.counted.get((flow, unit), 0) + rows
        self.bars.advance(task, rows)
        done = self.bars.tasks[task].completed if task < len(self.bars.tasks) else 0
        rate = done / max(time.monotonic() - self.started[flow], 1e-6)
        self.bars.update(task, rate=f"{rate:,.0f} rows/s")

    @hookimpl
    def hygge_batch_staged(self, event: BatchEvent) -> None:
        with self.lock:
            self._advance(event.flow, event.unit, event.rows)

    @hookimpl
    def hygge_unit_staged(self, event: UnitEvent) -> None:
        with self.lock:
            seen = self.counted.get((event.flow, event.unit), 0)
            self._advance(event.flow, event.unit, event.rows - seen)

    @hookimpl
    def hygge_flow_finished(self, event: FlowEvent) -> None:
        self._settle(event.flow, event.rows, "ok")

    @hookimpl
    def hygge_flow_failed(self, event: FlowFailedEvent) -> None:
        self._settle(event.flow, None, "failed")
        super().hygge_flow_failed(event)

    def _settle(self, flow: str, rows: int | None, status: str) -> None:
        with self.lock:
            task = self.tasks.get(flow)
            if task is not None:
                if rows is None:
                    rows = int(self.bars.tasks[task].completed)
                self.bars.update(task, total=max(rows, 1), completed=rows, rate=status)

    @hookimpl
    def hygge_run_finished(self, event: RunEvent) -> None:
        self.close()  # the table prints below the bars, not through them
        super().hygge_run_finished(event)

    def close(self) -> None:
        self.bars.stop()
