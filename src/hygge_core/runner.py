"""Running flows: plan, stage every unit through an executor, commit once per flow.

Flows run concurrently (`--concurrency`). Each flow: recover what a crashed run left,
read its committed state, check the schema, plan units, stage them, commit data and state
in one atomic step. Transient faults retry the attempt with backoff; whatever was staged by
a failed attempt is aborted, so a failure never leaves data visible.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import secrets as _random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from hygge_core import faults
from hygge_core.config.resolve import Plan, ResolvedFlow
from hygge_core.context import FlowContext
from hygge_core.errors import HyggeError, PermanentError
from hygge_core.events import BatchEvent, FlowEvent, FlowFailedEvent
from hygge_core.executor import Executor
from hygge_core.home import Home
from hygge_core.incremental import advance, coerce_bound, window_for
from hygge_core.pipeline import Cancelled, UnitResult, fingerprint
from hygge_core.plugins import Registry
from hygge_core.report import Reporter
from hygge_core.retry import PERMANENT_ERRNOS, retrying
from hygge_core.state import FlowState, RunRecord, now_iso
from hygge_core.storage import StorageResolver
from hygge_core.store import Store
from hygge_core.units import Window, WorkUnit

log = logging.getLogger("hygge.run")


def new_run_id() -> str:
    """Sortable by time, unique across processes: `20261125T233000123Z-1a2b3c`."""
    now = dt.datetime.now(dt.UTC)
    return (
        now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z-" + (_random.token_hex(3))
    )


@dataclass
class FlowResult:
    """How one flow's run ended."""

    name: str
    status: str  # "ok", "failed", "skipped", "planned"
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    units: int = 0
    error: str | None = None
    run_id: str | None = None
    recovered: list[str] = field(default_factory=list)
    window: Window | None = None
    plan: list[WorkUnit] = field(default_factory=list)
    route: str = ""  # "home → store", as their describe() says (secrets masked)

    @property
    def rows_per_second(self) -> float:
        """Throughput over the whole flow, plan and commit included."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class RunOptions:
    """What the CLI passes to a run."""

    concurrency: int = os.cpu_count() or 2
    fail_fast: bool = False
    dry_run: bool = False
    executor: str | None = None
    executor_options: dict[str, Any] = field(default_factory=dict)


class Runner:
    """Runs the selected flows of a plan and reports through a `Reporter`."""

    def __init__(
        self, plan: Plan, registry: Registry, reporter: Reporter, options: RunOptions
    ) -> None:
        self.plan = plan
        self.registry = registry
        self.reporter = reporter
        self.options = options
        self.stop = threading.Event()
        self.storage = StorageResolver(registry.storages, plan.connections)

    def make_executor(self) -> Executor:
        """The executor chosen on the command line, else in flows.yaml, else local."""
        spec = self.plan.executor
        name = self.options.executor or spec.type
        cls = self.registry.executors.get(name)
        if cls is None:
            hint = self.registry.missing_type_hint("executor", name)
            raise PermanentError(f"unknown executor '{name}'" + (f"; {hint}" if hint else ""))
        settings = {k: v for k, v in spec.model_dump().items() if k != "type"}
        if name != spec.type:
            settings = {}
        settings.update(self.options.executor_options)
        return cls(settings)

    def run(self) -> list[FlowResult]:
        """Run every flow; one flow failing does not stop the others unless fail-fast."""
        executor = self.make_executor()
        try:
            flows = list(self.plan.flows.values())
            workers = max(1, min(self.options.concurrency, len(flows)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hygge-flow") as p:
                results = list(p.map(lambda f: self.run_flow(f, executor), flows))
        finally:
            executor.close()
        return results

    def context(self, flow: ResolvedFlow, run_id: str) -> FlowContext:
        """The context handed to the flow's Home and Store."""
        return FlowContext(
            flow=flow.name,
            run_id=run_id,
            storage=self.storage,
            connections=self.plan.connections,
            schema_drift=flow.spec.schema_drift,
        )

    def run_flow(self, flow: ResolvedFlow, executor: Executor) -> FlowResult:
        """One flow, start to commit, with retries of transient faults."""
        started = time.monotonic()
        run_id = new_run_id()
        if self.stop.is_set():
            return FlowResult(
                flow.name,
                "skipped",
                run_id=run_id,
                error="skipped: an earlier flow failed (--fail-fast)",
            )
        ctx = self.context(flow, run_id)
        home: Home = flow.home_cls(flow.home_config, ctx)
        store: Store = flow.store_cls(flow.store_config, ctx)
        result = FlowResult(flow.name, "ok", run_id=run_id)
        try:
            if self.options.dry_run:
                return self._dry_run(flow, home, store, result)
            for attempt in retrying(
                flow.spec.retry, lambda line: self.reporter.note(flow.name, line)
            ):
                # The lock is taken per attempt: taking it can meet the same transient
                # faults (a database briefly unreachable) as the rest of the attempt.
                with attempt, store.lock():
                    self._attempt(flow, home, store, executor, result, started)
        except Exception as exc:
            result.status = "failed"
            result.error = describe_error(exc)
            if isinstance(exc, OSError) and not isinstance(exc, HyggeError):
                result.error = f"{store.describe()}: {result.error}"
            result.seconds = time.monotonic() - started
            if not isinstance(exc, HyggeError | Cancelled):
                log.debug("flow %s failed", flow.name, exc_info=exc)
            self._hook(
                "hygge_flow_failed",
                event=FlowFailedEvent(flow.name, run_id, result.error, result.seconds),
            )
            if self.options.fail_fast:
                self.stop.set()
        finally:
            home.close()
            store.close()
        result.seconds = time.monotonic() - started
        self.reporter.flow_finished(result)
        return result

    def _attempt(
        self,
        flow: ResolvedFlow,
        home: Home,
        store: Store,
        executor: Executor,
        result: FlowResult,
        started: float,
    ) -> None:
        result.recovered = store.recover()
        for line in result.recovered:
            self.reporter.note(flow.name, line)
        state = store.read_state()
        window = window_for(flow.home_config.incremental, state)
        schema = home.schema()
        if window is not None:
            if window.cursor not in schema.names:
                raise PermanentError(_missing_column(window.cursor, schema))
            window = coerce_bound(window, schema.field(window.cursor).type)
        store.prepare(schema)
        units = [
            dataclasses.replace(u, window=u.window or window, seq=i)
            for i, u in enumerate(home.plan(window))
        ]
        result.units, result.window = len(units), window
        result.rows = result.bytes = 0
        event = FlowEvent(
            flow.name,
            result.run_id or "",
            home.describe(),
            store.describe(),
            flow.store_config.mode,
            units=len(units),
        )
        self._hook("hygge_flow_started", event=event)
        self.reporter.flow_started(flow.name, units, window)
        lock = threading.Lock()

        def on_batch(unit: WorkUnit, batch: pa.RecordBatch) -> None:
            if self.stop.is_set():
                raise Cancelled("cancelled: another flow failed (--fail-fast)")
            with lock:
                result.rows += batch.num_rows
                result.bytes += batch.nbytes
            self.reporter.progress(flow.name, batch.num_rows, batch.nbytes)
            self._hook(
                "hygge_batch_staged",
                event=BatchEvent(
                    flow.name, result.run_id or "", unit.id, batch.num_rows, batch.nbytes
                ),
            )

        def on_unit(unit: WorkUnit, done: UnitResult) -> None:
            # Executors that run units in other processes (Dask) cannot report batches:
            # progress, and the --fail-fast stop, come per unit instead.
            if self.stop.is_set():
                raise Cancelled("cancelled: another flow failed (--fail-fast)")
            if executor.reports_batches:
                return
            with lock:
                result.rows += done.rows
                result.bytes += done.bytes
            self.reporter.progress(flow.name, done.rows, done.bytes)

        staged: list[UnitResult] = []
        try:
            cursor = window.cursor if window else None
            adopted = self._adopt(flow.name, store, units)
            todo = [u for u in units if u.seq not in adopted]
            fresh = executor.run_units(
                home,
                store,
                todo,
                parallelism=flow.spec.parallelism or executor.default_parallelism(),
                budget=flow.budget,
                cursor=cursor,
                on_batch=on_batch,
                on_unit=on_unit,
            )
            by_seq = {**adopted, **{u.seq: r for u, r in zip(todo, fresh, strict=True)}}
            staged = [by_seq[u.seq] for u in units]
            result.rows = sum(r.rows for r in staged)
            result.bytes = sum(r.bytes for r in staged)
            old = state or FlowState(flow=flow.name)
            new_cursor = (
                advance(state, cursor, [r.cursor_max for r in staged]) if cursor else old.cursor
            )
            record = RunRecord(
                run_id=result.run_id or "",
                started_at=_iso_ago(started),
                finished_at=now_iso(),
                mode=flow.store_config.mode,
                rows=result.rows,
                units=len(units),
                cursor_before=old.cursor.value if old.cursor else None,
                cursor_after=new_cursor.value if new_cursor else None,
            )
            faults.fault_point("commit.start")
            store.commit([r.staged for r in staged], old.with_run(record, new_cursor))
            faults.fault_point("commit.done")
        except BaseException:
            try:
                store.abort([r.staged for r in staged])
            except Exception as cleanup:  # keep the original error; recover() retries later
                log.warning("flow %s: cleaning staging failed: %s", flow.name, cleanup)
            raise
        self._hook(
            "hygge_flow_finished",
            event=dataclasses.replace(
                event, rows=result.rows, bytes=result.bytes, seconds=time.monotonic() - started
            ),
        )

    def _adopt(self, flow: str, store: Store, units: list[WorkUnit]) -> dict[int, UnitResult]:
        """Units that a crashed run already staged, matched by fingerprint, by plan seq."""
        if not store.supports_resume:
            return {}
        done = store.resumable()
        adopted = {
            u.seq: UnitResult.from_record(done[fp]) for u in units if (fp := fingerprint(u)) in done
        }
        if adopted:
            rows = sum(r.rows for r in adopted.values())
            self.reporter.note(
                flow,
                f"resumed {len(adopted)} of {len(units)} work unit(s) ({rows:,} rows) "
                "staged by an interrupted run",
            )
        return adopted

    def _dry_run(
        self, flow: ResolvedFlow, home: Home, store: Store, result: FlowResult
    ) -> FlowResult:
        state = store.read_state()
        window = window_for(flow.home_config.incremental, state)
        units = home.plan(window)
        result.route = f"{home.describe()} → {store.describe()}"
        result.status, result.units, result.window, result.plan = (
            "planned",
            len(units),
            window,
            units,
        )
        return result

    def _hook(self, name: str, **kwargs: Any) -> None:
        try:
            getattr(self.registry.pm.hook, name)(**kwargs)
        except Exception as exc:  # observers must never break a flow
            log.warning("a %s hook failed: %s", name, exc)


def _iso_ago(monotonic_start: float) -> str:
    ago = time.monotonic() - monotonic_start
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=ago)).isoformat(timespec="milliseconds")


def _missing_column(column: str, schema: pa.Schema) -> str:
    import difflib

    close = difflib.get_close_matches(column, schema.names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; columns: {', '.join(schema.names)}"
    return f"cursor column '{column}' does not exist in the home" + hint


def describe_error(exc: BaseException) -> str:
    """One line for the user: our own errors as they are, others with their type."""
    if isinstance(exc, HyggeError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in PERMANENT_ERRNOS:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{PERMANENT_ERRNOS[exc.errno]}{where}: free space or fix permissions, then re-run"
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
