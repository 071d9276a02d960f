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
import secrets as _random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from hygge_core import faults
from hygge_core.config.resolve import Plan, ResolvedFlow
from hygge_core.context import FlowContext
from hygge_core.errors import ConfigError, HyggeError, PermanentError, describe_error
from hygge_core.events import (
    BatchEvent,
    FlowEvent,
    FlowFailedEvent,
    NoteEvent,
    RunEvent,
    UnitEvent,
)
from hygge_core.executor import Executor, UnitsRequest
from hygge_core.home import Home
from hygge_core.incremental import advance, coerce_bound, window_for
from hygge_core.memory import FlowMemory, RunBudget, units_in_flight
from hygge_core.pipeline import Cancelled, UnitResult, fingerprint
from hygge_core.plugins import CORE_DIST, Registry
from hygge_core.report import human_bytes
from hygge_core.retry import retrying
from hygge_core.sizing import DEFAULT_CAP, DEFAULT_FRACTION, Limits, detect
from hygge_core.state import FlowState, RunRecord, now_iso
from hygge_core.storage import StorageResolver
from hygge_core.store import Store
from hygge_core.units import Window, WorkUnit

if TYPE_CHECKING:
    from hygge_core.checks import CheckOutcome
    from hygge_core.shaping import Shaping

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
    memory: FlowMemory | None = None  # the budget admitted, units in flight, peak held
    peak_rss: int = 0  # the process's peak resident set when the flow ended, bytes
    home_type: str = ""
    store_type: str = ""
    retries: int = 0  # transient faults retried
    cursor_after: Any = None  # an incremental flow's committed high-water mark
    checks: list[CheckOutcome] = field(default_factory=list)  # the flow's checks, combined

    @property
    def rows_per_second(self) -> float:
        """Throughput over the whole flow, plan and commit included."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class RunOptions:
    """What the CLI passes to a run."""

    concurrency: int | None = None  # flows at once; None: the cores the process may use
    memory: int | None = None  # `--memory`: the run-wide budget, bytes
    fail_fast: bool = False
    dry_run: bool = False
    executor: str | None = None
    executor_options: dict[str, Any] = field(default_factory=dict)
    # `--full-refresh`: read every row whatever the committed cursor (the plan's stores
    # were resolved with mode replace, so the store's data is replaced).
    full_refresh: bool = False


class Runner:
    """Runs the selected flows of a plan; what happens goes out through the lifecycle hooks
    only (one channel). `reporter`, when given, is a plugin object (hygge's reporters are)
    registered on the run's plugin manager for the duration of `run()`."""

    def __init__(
        self, plan: Plan, registry: Registry, reporter: object | None, options: RunOptions
    ) -> None:
        self.plan = plan
        self.registry = registry
        self.reporter = reporter
        self.options = options
        self.stop = threading.Event()
        # What flows cut short by `stop` report, and what flows not yet started say.
        self.stop_reason = (
            "cancelled: another flow failed (--fail-fast)",
            "an earlier flow failed (--fail-fast)",
        )
        self.storage = StorageResolver(registry.storages, plan.connections)
        self.deadlines: dict[str, float] = {}  # flow → monotonic time its `timeout:` ends
        self.limits = detect()
        self.budget = RunBudget(*run_budget(self.limits, options.memory, plan))

    def interrupt(self) -> None:
        """Stop the run soon (Ctrl-C): no new flow or batch starts, staged work is aborted,
        nothing more is committed. Safe to call from a signal handler."""
        self.stop_reason = ("interrupted: nothing committed", "interrupted")
        self.stop.set()

    def _check_stop(self, flow: ResolvedFlow | None = None) -> None:
        if self.stop.is_set():
            raise Cancelled(self.stop_reason[0])
        if flow is not None and time.monotonic() > self.deadlines.get(flow.name, float("inf")):
            raise TimedOut(
                f"timed out: ran past its timeout: {flow.spec.timeout}; nothing was "
                "committed and its state is unchanged"
                + "\n    hint: raise timeout: on the flow, or find what made it slow "
                "(hygge run -v)"
            )

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
        pm = self.registry.pm
        if self.reporter is not None:
            pm.register(self.reporter, name=f"{CORE_DIST}:reporter")
        try:
            executor = self.make_executor()
            try:
                flows = list(self.plan.flows.values())
                concurrency = self.options.concurrency or self.limits.cores
                workers = max(1, min(concurrency, len(flows)))
                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hygge-flow") as p:
                    results = list(p.map(lambda f: self.run_flow(f, executor), flows))
            finally:
                executor.close()
            self._hook(
                "hygge_run_finished",
                event=RunEvent(
                    tuple(results), dry_run=self.options.dry_run, settings=self.plan.settings
                ),
            )
        finally:
            if self.reporter is not None:
                pm.unregister(self.reporter)
        return results

    def sizing(self) -> dict[str, Any]:
        """The run-wide budget and cores chosen, and why: for `--dry-run` and JSON logs."""
        return {
            "run_budget": self.budget.total,
            "cores": self.limits.cores,
            "sizing_why": f"budget: {self.budget.why}; cores: {self.limits.cores_source}",
        }

    def flow_memory(
        self, flow: ResolvedFlow, granted: int, parallelism: int | None, units: int
    ) -> FlowMemory:
        """The flow's budget as admitted: `granted` bytes over its units in flight."""
        asked = flow.budget
        if asked is None:
            why = "the run's budget"
        elif asked > self.budget.total:
            why = (
                f"memory: {flow.spec.memory} capped by the run's budget; raise --memory or "
                "memory: at the top of the file to give it more"
            )
        else:
            why = f"memory: {flow.spec.memory}"
        if granted < min(asked or self.budget.total, self.budget.total):
            why += "; less was free while other flows ran"
        if parallelism is None:  # an executor with no limit of hygge's (Dask)
            return FlowMemory(granted, 1, why + "; units in flight: the executor's workers")
        count, because = units_in_flight(granted, parallelism, units)
        return FlowMemory(granted, count, f"{why}; {count} unit(s) in flight: {because}")

    def _planned_parallelism(self, flow: ResolvedFlow, executor: Executor) -> int | None:
        """Units of the flow that will move at once, as far as is known before planning:
        the flow's parallelism, capped by what its budget admits (`FlowContext.parallelism`)."""
        parallelism = flow.spec.parallelism or executor.default_parallelism()
        if parallelism is None:
            return None
        want = min(flow.budget or self.budget.total, self.budget.total)
        return units_in_flight(want, parallelism, parallelism)[0]

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
        home_type, store_type = flow.home_config.type, flow.store_config.type
        if self.stop.is_set():
            skipped = FlowResult(
                flow.name,
                "skipped",
                run_id=run_id,
                error=f"skipped: {self.stop_reason[1]}",
                home_type=home_type,
                store_type=store_type,
            )
            self._note(flow.name, run_id, skipped.error or "")
            return skipped
        limit = flow.spec.timeout_seconds
        if limit is not None:
            self.deadlines[flow.name] = started + limit
        ctx = self.context(flow, run_id)
        ctx.parallelism = self._planned_parallelism(flow, executor)
        home: Home = flow.home_cls(flow.home_config, ctx)
        store: Store = flow.store_cls(flow.store_config, ctx)
        result = FlowResult(
            flow.name, "ok", run_id=run_id, home_type=home_type, store_type=store_type
        )
        finished: FlowEvent | None = None

        def on_retry(line: str) -> None:
            result.retries += 1
            self._note(flow.name, run_id, line)

        try:
            _refuse_single_process(
                flow, home, store, executor, self.options.executor or self.plan.executor.type
            )
            if self.options.dry_run:
                return self._dry_run(flow, home, store, executor, result)
            for attempt in retrying(
                flow.spec.retry,
                on_retry,
                # A stop (Ctrl-C) ends the wait between tries, and so does the timeout.
                sleep=lambda seconds: self.stop.wait(min(seconds, self._left(flow))),
            ):
                # The lock is taken per attempt: taking it can meet the same transient
                # faults (a database briefly unreachable) as the rest of the attempt.
                with attempt, store.lock():
                    finished = self._attempt(flow, home, store, executor, result, started)
        except Exception as exc:
            if isinstance(exc, ConfigError):
                exc = self._located(flow, exc)
            result.status = "failed"
            result.error = describe_error(exc)
            if isinstance(exc, OSError) and not isinstance(exc, HyggeError):
                result.error = f"{store.describe()}: {result.error}"
            result.seconds = time.monotonic() - started
            if not isinstance(exc, HyggeError | Cancelled):
                log.debug("flow %s failed", flow.name, exc_info=exc)
            if not isinstance(exc, Cancelled):
                self._record_failure(flow, store, result, started)
            self._hook(
                "hygge_flow_failed",
                event=FlowFailedEvent(
                    flow.name,
                    run_id,
                    result.error,
                    result.seconds,
                    peak_bytes_held=result.memory.peak if result.memory else 0,
                    peak_rss=peak_rss(),
                ),
            )
            if self.options.fail_fast:
                self.stop.set()
        finally:
            home.close()
            store.close()
        result.seconds = time.monotonic() - started
        result.peak_rss = peak_rss()
        if result.status == "ok" and finished is not None:
            memory = result.memory
            self._hook(
                "hygge_flow_finished",
                event=dataclasses.replace(
                    finished,
                    rows=result.rows,
                    bytes=result.bytes,
                    seconds=result.seconds,
                    peak_bytes_held=memory.peak if memory else 0,
                    flushed_early=memory.flushed_early if memory else 0,
                    peak_rss=result.peak_rss,
                ),
            )
        return result

    def _attempt(
        self,
        flow: ResolvedFlow,
        home: Home,
        store: Store,
        executor: Executor,
        result: FlowResult,
        started: float,
    ) -> FlowEvent:
        """One attempt: recover, plan, stage, commit. Returns the flow's started event."""
        run_id = result.run_id or ""
        self._check_stop(flow)
        result.recovered = store.recover()
        for line in result.recovered:
            self._note(flow.name, run_id, line)
        state = store.read_state()
        # A home's own position is its cursor: `--full-refresh` reads the whole home either
        # way (a position home given the old position would replace the store with only
        # what came since).
        home.begin(self._cursor_state(state))
        window = window_for(flow.home_config.incremental, self._cursor_state(state))
        schema = home.schema()
        if window is not None:
            if window.cursor not in schema.names:
                raise PermanentError(_missing_column(window.cursor, schema))
            window = coerce_bound(window, schema.field(window.cursor).type)
        if flow.shaping:
            # The store is prepared for what the transforms make of the home's rows; a
            # missing column or a type that does not combine fails here, before any read.
            schema = flow.shaping.output_schema(schema)
        _check_keys(flow, schema)
        store.prepare(schema)
        units = [
            dataclasses.replace(u, window=u.window or window, seq=i)
            for i, u in enumerate(home.plan(window))
        ]
        result.units, result.window = len(units), window
        result.rows = result.bytes = 0
        granted = self.budget.take(flow.budget or self.budget.total, self.stop)
        if not granted:
            raise Cancelled(self.stop_reason[0])
        try:
            return self._stage_and_commit(
                flow, home, store, executor, result, started, state, window, units, granted
            )
        finally:
            self.budget.give(granted)

    def _stage_and_commit(
        self,
        flow: ResolvedFlow,
        home: Home,
        store: Store,
        executor: Executor,
        result: FlowResult,
        started: float,
        state: FlowState | None,
        window: Window | None,
        units: list[WorkUnit],
        granted: int,
    ) -> FlowEvent:
        """Stage the planned units within `granted` bytes of the run's budget, then commit."""
        run_id = result.run_id or ""
        parallelism = flow.spec.parallelism or executor.default_parallelism()
        meter = self.flow_memory(flow, granted, parallelism, len(units))
        home.context.memory = store.context.memory = result.memory = meter
        event = FlowEvent(
            flow.name,
            run_id,
            home.describe(),
            store.describe(),
            flow.store_config.mode,
            units=len(units),
            cursor=window.cursor if window else None,
            after=window.after if window else None,
            estimated_rows=sum(u.estimated_rows or 0 for u in units),
            budget=meter.budget,
            units_in_flight=meter.units,
            budget_why=meter.why,
            **self.sizing(),
        )
        self._hook("hygge_flow_started", event=event)
        lock = threading.Lock()

        def on_batch(unit: WorkUnit, batch: pa.RecordBatch) -> None:
            self._check_stop(flow)
            with lock:
                result.rows += batch.num_rows
                result.bytes += batch.nbytes
            self._hook(
                "hygge_batch_staged",
                event=BatchEvent(flow.name, run_id, unit.id, batch.num_rows, batch.nbytes),
            )

        def on_unit(unit: WorkUnit, done: UnitResult) -> None:
            # Executors that run units in other processes (Dask) cannot report batches:
            # their running totals, and the --fail-fast stop, come per unit instead.
            self._check_stop(flow)
            if not executor.reports_batches:
                with lock:
                    result.rows += done.rows
                    result.bytes += done.bytes
            self._hook(
                "hygge_unit_staged",
                event=UnitEvent(flow.name, run_id, unit.id, done.rows, done.bytes),
            )

        staged: list[UnitResult] = []
        shaping = None
        if flow.shaping:
            shaping = flow.shaping.for_run(
                run_id, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=time.monotonic() - started)
            )
        fresh: list[UnitResult] = []
        try:
            self._check_stop(flow)
            cursor = window.cursor if window else None
            adopted = self._adopt(flow.name, run_id, store, units, shaping)
            todo = [u for u in units if u.seq not in adopted]
            fresh = executor.run_units(
                UnitsRequest(
                    home,
                    store,
                    todo,
                    parallelism=meter.units if parallelism is not None else None,
                    budget=granted,
                    cursor=cursor,
                    on_batch=on_batch,
                    on_unit=on_unit,
                    shaping=shaping,
                )
            )
            if meter.flushed_early:
                self._note(
                    flow.name,
                    run_id,
                    f"{meter.flushed_early} row group(s) or buffer(s) written before their "
                    f"configured size to stay within memory ({human_bytes(meter.share.writer)} "
                    f"per writer: {human_bytes(meter.budget)} over {meter.units} unit(s) in "
                    "flight)",
                )
            by_seq = {**adopted, **{u.seq: r for u, r in zip(todo, fresh, strict=True)}}
            staged = [by_seq[u.seq] for u in units]
            result.rows = sum(r.rows for r in staged)
            result.bytes = sum(r.bytes for r in staged)
            if shaping is not None and shaping.checks:
                self._checks(flow.name, run_id, shaping, staged, result)
            old = state or FlowState(flow=flow.name)
            new_cursor = (
                advance(self._cursor_state(state), cursor, [r.cursor_max for r in staged])
                if cursor
                else old.cursor
            )
            record = RunRecord(
                run_id=run_id,
                started_at=_iso_ago(started),
                finished_at=now_iso(),
                mode=flow.store_config.mode,
                rows=result.rows,
                units=len(units),
                cursor_before=old.cursor.value if old.cursor else None,
                cursor_after=new_cursor.value if new_cursor else None,
                bytes=result.bytes,
                seconds=round(time.monotonic() - started, 3),
                retries=result.retries,
            )
            self._check_stop(flow)  # the last moment at which stopping leaves no trace
            faults.fault_point("commit.start")
            new_state = old.with_run(record, new_cursor, home.position())
            store.commit([r.staged for r in staged], new_state)
            faults.fault_point("commit.done")
            result.cursor_after = new_cursor.python_value() if new_cursor else None
        except BaseException:
            try:
                store.abort([r.staged for r in staged])
            except Exception as cleanup:  # keep the original error; recover() retries later
                log.warning("flow %s: cleaning staging failed: %s", flow.name, cleanup)
            raise
        finally:
            if shaping is not None and shaping.checks:
                shaping.cleanup([list(r.checks or ()) for r in [*staged, *fresh]])
        self._release(flow.name, run_id, home, new_state)
        return event

    def _release(self, flow: str, run_id: str, home: Home, state: FlowState) -> None:
        """Tell the home its run is committed (outside the commit's try: nothing may be
        aborted or retried now). A failure is a note: an unreleased source delivers again
        and the committed position lets the next run drop what this run stored."""
        try:
            home.committed(state)
        except Exception as exc:
            self._note(
                flow,
                run_id,
                f"committed, but the home could not release what it read "
                f"({describe_error(exc)}); the next run skips what this run stored",
            )

    def _checks(
        self,
        flow: str,
        run_id: str,
        shaping: Shaping,
        staged: list[UnitResult],
        result: FlowResult,
    ) -> None:
        """Combine the units' check partials; a failed error check aborts (raises), a
        failed warning is reported and the commit goes on."""
        outcomes = shaping.outcomes([list(r.checks or ()) for r in staged])
        result.checks = outcomes
        for o in outcomes:
            if not o.passed and o.severity == "warn":
                self._note(flow, run_id, f"warning: {o.describe()}; committed anyway")
        failed = [o for o in outcomes if not o.passed and o.severity == "error"]
        if failed:
            from hygge_core.shaping import ChecksFailed

            raise ChecksFailed(failed)

    def _record_failure(
        self, flow: ResolvedFlow, store: Store, result: FlowResult, started: float
    ) -> None:
        """Keep the failed run in the flow's history where the store can (best effort:
        a store that cannot be reached, or is locked by another run, keeps nothing)."""
        record = RunRecord(
            run_id=result.run_id or "",
            started_at=_iso_ago(started),
            finished_at=now_iso(),
            mode=flow.store_config.mode,
            rows=0,
            units=result.units,
            seconds=round(result.seconds, 3),
            retries=result.retries,
            status="failed",
            error=result.error,
        )
        try:
            with store.lock():
                store.record_failure(record)
        except Exception as exc:
            log.debug("flow %s: the failure was not recorded: %s", flow.name, exc)

    def _adopt(
        self,
        flow: str,
        run_id: str,
        store: Store,
        units: list[WorkUnit],
        shaping: Shaping | None = None,
    ) -> dict[int, UnitResult]:
        """Units that a crashed run already staged, matched by fingerprint, by plan seq.

        With checks, a unit is adopted only if its record kept the checks' partials (and
        what they spilled is still there); otherwise it is read again."""
        if not store.supports_resume:
            return {}
        done = store.resumable()
        adopted = {
            u.seq: UnitResult.from_record(done[fp]) for u in units if (fp := fingerprint(u)) in done
        }
        if shaping is not None and shaping.checks:
            adopted = {
                k: r
                for k, r in adopted.items()
                if shaping.usable(list(r.checks) if r.checks is not None else None)
            }
        if adopted:
            rows = sum(r.rows for r in adopted.values())
            self._note(
                flow,
                run_id,
                f"resumed {len(adopted)} of {len(units)} work unit(s) ({rows:,} rows) "
                "staged by an interrupted run",
            )
        return adopted

    def _dry_run(
        self, flow: ResolvedFlow, home: Home, store: Store, executor: Executor, result: FlowResult
    ) -> FlowResult:
        state = store.read_state()
        home.begin(self._cursor_state(state))
        window = window_for(flow.home_config.incremental, self._cursor_state(state))
        units = home.plan(window)
        want = min(flow.budget or self.budget.total, self.budget.total)
        parallelism = flow.spec.parallelism or executor.default_parallelism()
        result.memory = self.flow_memory(flow, want, parallelism, len(units))
        result.route = f"{home.describe()} → {store.describe()}"
        result.status, result.units, result.window, result.plan = (
            "planned",
            len(units),
            window,
            units,
        )
        return result

    def _located(self, flow: ResolvedFlow, exc: ConfigError) -> ConfigError:
        """`exc` with its problems placed in flows.yaml: a plugin that finds a setting wrong
        only at run time (a table property the option needs) names the flow, side and field;
        the file and line of that field are known here."""
        doc = self.plan.doc
        if doc is None:
            return exc
        placed = []
        for p in exc.problems:
            if p.file is None and p.flow == flow.name:
                line = column = None
                path = ("flows", flow.name, *([p.side] if p.side else []))
                if path in doc.values:  # (an expanded entity's flow is not written as such)
                    field = (*path, p.field) if p.field else path
                    line, column = doc.where(field, key=field in doc.keys)
                p = dataclasses.replace(p, file=self.plan.file, line=line, column=column)
            placed.append(p)
        return ConfigError(placed)

    def _cursor_state(self, state: FlowState | None) -> FlowState | None:
        """The state whose cursor (and home position) bounds the read: none under
        `--full-refresh`."""
        return None if self.options.full_refresh else state

    def _left(self, flow: ResolvedFlow) -> float:
        """Seconds before the flow's `timeout:` ends (a day when it has none)."""
        return max(0.0, self.deadlines.get(flow.name, time.monotonic() + 86400) - time.monotonic())

    def _hook(self, name: str, **kwargs: Any) -> None:
        self.registry.notify(name, **kwargs)

    def _note(self, flow: str, run_id: str, message: str) -> None:
        self._hook("hygge_flow_note", event=NoteEvent(flow, run_id, message))


class TimedOut(PermanentError):
    """A flow ran past its `timeout:`; what it staged is aborted, never committed."""


def _refuse_single_process(
    flow: ResolvedFlow, home: Home, store: Store, executor: Executor, name: str
) -> None:
    """A home or store only one process may open cannot have its units on other processes."""
    if executor.in_process:
        return
    for side, obj in (("home", home), ("store", store)):
        if obj.single_process:
            raise PermanentError(
                f"{side} {obj.describe()} can only be opened by one process (its type "
                f"'{getattr(flow, side + '_config').type}' declares single_process), so it "
                f"cannot run on executor '{name}', whose units run in other processes "
                f"({executor.describe()}); run this flow with --executor local (or executor: "
                f"{{type: local}} in flows.yaml)"
            )


def run_budget(limits: Limits, memory: int | None, plan: Plan) -> tuple[int, str]:
    """The run-wide budget and why: `--memory`, else `memory:` atop the file, else sized."""
    if memory is not None:
        return memory, f"--memory {human_bytes(memory)}"
    if plan.memory is not None:
        return plan.memory, f"memory: {human_bytes(plan.memory)} at the top of {plan.file}"
    total = limits.default_budget()
    return total, (
        f"default: 1/{DEFAULT_FRACTION} of the memory limit, at most "
        f"{human_bytes(DEFAULT_CAP)}; limit: {limits.memory_source}"
    )


def peak_rss() -> int:
    """The process's peak resident set so far, in bytes (Linux reports KiB, macOS bytes)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _iso_ago(monotonic_start: float) -> str:
    ago = time.monotonic() - monotonic_start
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=ago)).isoformat(timespec="milliseconds")


def _check_keys(flow: ResolvedFlow, schema: pa.Schema) -> None:
    """Merge keys name columns of the rows the store receives (after the transforms)."""
    for key in flow.store_config.keys or []:
        if key not in schema.names:
            import difflib

            # Case and underscores aside: a rename to snake case is the usual cause.
            folded = {n.lower().replace("_", ""): n for n in schema.names}
            close = difflib.get_close_matches(key.lower().replace("_", ""), list(folded), n=1)
            hint = (
                f"did you mean '{folded[close[0]]}'?"
                if close
                else f"columns: {', '.join(schema.names)}"
            )
            after = (
                " after the flow's transforms" if flow.shaping and flow.shaping.transforms else ""
            )
            raise PermanentError(
                f"merge key '{key}' (store keys:) is not a column of the rows{after}; {hint}"
            )


def _missing_column(column: str, schema: pa.Schema) -> str:
    import difflib

    close = difflib.get_close_matches(column, schema.names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; columns: {', '.join(schema.names)}"
    return f"cursor column '{column}' does not exist in the home" + hint
