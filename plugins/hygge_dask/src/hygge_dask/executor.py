"""The Dask executor: a flow's work units run on the workers of a Dask distributed cluster.

The driver (`hygge run`) still plans and commits; this executor only ships units. Each
unit travels as plain data with the flow's pickled Home and Store, a worker stages it with
`hygge_core.executor.run_unit`, and the receipt comes back. Dask re-runs a unit whose worker
died; staging names are deterministic per run and unit, so the re-run overwrites what the
lost attempt left, and the driver receives exactly one receipt per unit.

`distributed` is imported only when a flow runs, so `hygge plugins` and local runs do not
pay for it.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import threading
import uuid
from collections import Counter
from importlib import metadata
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hygge_core import (
    Executor,
    Home,
    PermanentError,
    Store,
    TransientError,
    WorkUnit,
    describe_error,
)
from hygge_core.executor import Cancelled, UnitResult, UnitsRequest
from hygge_dask.worker import UnitDone, pack, probe, stage_unit

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

log = logging.getLogger("hygge.dask")


class DaskOptions(BaseModel):
    """`executor: {type: dask, ...}` in flows.yaml; `--scheduler ADDR` sets `address`."""

    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(
        default=None,
        description="the scheduler, e.g. tcp://10.0.0.5:8786; none starts a LocalCluster",
    )
    n_workers: int | None = Field(default=None, ge=1, description="LocalCluster: processes")
    threads_per_worker: int | None = Field(
        default=None, ge=1, description="LocalCluster: threads (units at once) per process"
    )
    memory_limit: str | None = Field(
        default=None, description="LocalCluster: memory per worker process, e.g. '4GB'"
    )
    timeout: float = Field(default=10.0, gt=0, description="seconds to reach the scheduler")


def parse_options(options: dict[str, Any]) -> DaskOptions:
    """Validate the executor's options; one line naming the option when one is wrong."""
    try:
        return DaskOptions.model_validate(options)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(p) for p in error["loc"]) or "options"
        known = list(DaskOptions.model_fields)
        if error["type"] == "extra_forbidden":
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"options: {', '.join(known)}"
            raise PermanentError(f"executor dask: unknown option '{name}'; {hint}") from None
        raise PermanentError(f"executor dask: option '{name}': {error['msg']}") from None


class DaskExecutor(Executor):
    """Runs work units on a Dask cluster: the one at `address`, or a LocalCluster of worker
    processes on 127.0.0.1 when no address is given.

    Every unit is one Dask task; the cluster's worker threads bound how many run at once,
    and each unit gets the flow's memory budget divided by the threads of a worker process.
    `on_batch` is not called (batches stay on the workers): `on_unit` reports each unit as
    its receipt arrives.
    """

    reports_batches = False
    in_process = False

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.settings = parse_options(self.options)
        self._lock = threading.Lock()
        self._client: Client | None = None
        self._cluster: LocalCluster | None = None
        self._unreachable: str | None = None
        self._checked: set[tuple[type, type]] = set()

    def default_parallelism(self) -> int | None:
        """No limit of hygge's: a flow without `parallelism` runs as many units at once as
        the cluster has worker threads (this machine's cores say nothing about them)."""
        return None

    def describe(self) -> str:
        if self.settings.address:
            return f"dask {self.settings.address}"
        return "dask LocalCluster on 127.0.0.1"

    # -- the cluster ---------------------------------------------------------------------
    @property
    def client(self) -> Client:
        """The client, connected on first use so that `--dry-run` starts nothing."""
        with self._lock:
            if self._unreachable is not None:
                raise PermanentError(self._unreachable)
            if self._client is None:
                try:
                    self._client = self._connect()
                except Exception as exc:
                    where = self.settings.address or "a new LocalCluster"
                    self._unreachable = f"cannot reach the Dask scheduler at {where}: " + (
                        describe_error(exc)
                    )
                    raise PermanentError(self._unreachable) from None
                log.info("dask: connected to %s", getattr(self._client.scheduler, "address", "?"))
            return self._client

    def _connect(self) -> Client:
        from distributed import Client, LocalCluster

        s = self.settings
        if s.address:
            return Client(s.address, timeout=s.timeout, set_as_default=False)
        # The scheduler of a LocalCluster runs in this process and would print its INFO lines
        # through hygge's log handler; its warnings (memory, lost workers) still show.
        quiet = logging.getLogger("distributed")
        quiet.setLevel(max(quiet.getEffectiveLevel(), logging.WARNING))
        extra: dict[str, Any] = {}
        if s.memory_limit:
            extra["memory_limit"] = s.memory_limit
        self._cluster = LocalCluster(
            n_workers=s.n_workers,
            threads_per_worker=s.threads_per_worker,
            processes=True,
            host="127.0.0.1",
            # Loopback only, random ports: a CLI run must not open a dashboard to the network.
            dashboard_address="127.0.0.1:0",
            worker_dashboard_address="127.0.0.1:0",
            # The string "error" crashes the nanny; the level number works.
            silence_logs=logging.ERROR,
            **extra,
        )
        return Client(self._cluster, timeout=s.timeout, set_as_default=False)

    def close(self) -> None:
        with self._lock:
            client, cluster = self._client, self._cluster
            self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    def _check_workers(self, client: Client, flow: str, home: Home, store: Store) -> None:
        """Fail before any unit runs when a worker cannot load the flow's Home and Store,
        the commonest deployment mistake (a plugin installed on the driver only)."""
        kinds = (type(home), type(store))
        if kinds in self._checked:
            return
        answers = client.run(probe, _pack(flow, home, store), on_error="return")
        problems = []
        for address, answer in sorted(answers.items()):
            if isinstance(answer, BaseException):  # e.g. hygge-dask itself is missing there
                answer = describe_error(answer)
            if answer is None:
                continue
            if answer.startswith("module:"):
                module = answer.split(":", 1)[1]
                answer = f"No module named '{module}' (install {_dist(module)} there)"
            problems.append(f"dask worker {address} cannot load the home and store: {answer}")
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise PermanentError(
                f"flow {flow}: {problems[0]}{more}; every worker needs hygge-dask and the "
                "plugins the driver has"
            )
        if answers:  # with no worker yet (an autoscaling cluster), ask again next flow
            self._checked.add(kinds)

    # -- running units -------------------------------------------------------------------
    def run_units(self, request: UnitsRequest) -> list[UnitResult]:
        home, store, units = request.home, request.store, request.units
        parallelism, cursor, on_unit = request.parallelism, request.cursor, request.on_unit
        if not units:
            return []
        from distributed import Event, as_completed

        flow = home.context.flow
        client = self.client
        self._check_workers(client, flow, home, store)
        objects = _pack(flow, home, store)
        # Passed only when the flow has transforms or checks: workers started before
        # hygge-dask knew of them still run the other flows.
        extra = {"shaping": request.shaping} if request.shaping else {}
        nthreads = client.nthreads()
        if not nthreads:
            log.warning("flow %s: no dask worker is connected yet; units wait for one", flow)
        threads = max(nthreads.values(), default=1)
        per_unit = max(1, request.budget // threads)
        # A fresh token per call: a retried attempt of the same run must never be handed a
        # result Dask still holds from the attempt before, whose staging was aborted.
        prefix = f"hygge-{_key_safe(flow)}-{home.context.run_id}-{uuid.uuid4().hex[:6]}"
        cancel = Event(f"{prefix}-cancel", client=client)
        futures: list[Future] = []
        position: dict[Any, int] = {}

        def submit(i: int) -> Future:
            future = client.submit(
                stage_unit,
                objects,
                units[i],
                budget=per_unit,
                cursor=cursor,
                **extra,
                cancel=cancel.name,
                key=f"{prefix}-unit-{i:05d}",
            )
            futures.append(future)
            position[future.key] = i
            return future

        # A flow's `parallelism` caps its units in flight on the cluster (say, to spare the
        # database it reads); the next unit goes out as one finishes. Without it, all at once.
        first = min(parallelism or len(units), len(units))
        queue = as_completed([submit(i) for i in range(first)], loop=client.loop)
        following = iter(range(first, len(units)))
        results: list[UnitResult | None] = [None] * len(units)
        placed: Counter[str] = Counter()
        handled: set[Any] = set()
        failure: BaseException | None = None
        try:
            # Waits for every future, also after a failure: units already running stop at
            # their next batch (the cancel event) and the caller may abort only after that.
            for future in queue:
                i = position[future.key]
                unit = units[i]
                if future.status != "finished":
                    problem = _explain(unit, future)
                    handled.add(future.key)
                    future.release()
                    if failure is None:
                        failure = problem
                        cancel.set()
                    elif not isinstance(problem, Cancelled):
                        log.debug("flow %s: also failed: %s", flow, problem)
                    continue
                done: UnitDone = future.result()
                # Forget the key now: were its worker to die later, Dask would recompute a
                # unit whose receipt we hold, rewriting staged files while they commit.
                handled.add(future.key)
                future.release()
                if results[i] is not None:  # the executor contract; never seen, never allowed
                    raise RuntimeError(f"unit {unit.id} returned twice from dask")
                results[i] = done.result
                placed[done.worker] += 1
                log.info(
                    "flow %s: unit %s staged on %s: %d rows in %.2fs",
                    flow,
                    unit.id,
                    done.worker,
                    done.result.rows,
                    done.seconds,
                )
                if on_unit is not None and failure is None:
                    try:
                        on_unit(unit, done.result)
                    except BaseException as exc:
                        failure = exc
                        cancel.set()
                # A failed unit ends the flow: nothing more goes out (failures `continue`).
                if failure is None and (after := next(following, None)) is not None:
                    queue.add(submit(after))
        except BaseException:
            # Interrupted or the scheduler vanished: stop what we can, then let the caller abort.
            cancel.set()
            client.cancel([f for f in futures if f.key not in handled])
            raise
        finally:
            # Drops the event on the scheduler; must not mask the error that got us here.
            with contextlib.suppress(Exception):
                cancel.clear()
        if failure is not None:
            raise failure
        log.info(
            "flow %s: %d units on %d dask worker(s): %s",
            flow,
            len(units),
            len(placed),
            ", ".join(f"{w} {n}" for w, n in sorted(placed.items())),
        )
        return [r for r in results if r is not None]


def _explain(unit: WorkUnit, future: Future) -> BaseException:
    """The driver-side error for a unit whose task did not finish; names unit and worker."""
    from distributed import KilledWorker

    if future.status == "cancelled":
        return TransientError(
            f"unit {unit.id} was cancelled by the dask scheduler (lost connection?)"
        )
    exc = future.exception()
    if isinstance(exc, KilledWorker):
        deaths = exc.allowed_failures + 1
        return PermanentError(
            f"unit {unit.id}: the dask workers running it died {deaths} time(s), the last "
            f"{exc.last_worker.address}; see the worker logs (out of memory?)"
        )
    if isinstance(exc, Cancelled):
        return exc
    detail = getattr(exc, "detail", "")
    if detail:
        log.debug("unit %s failed; traceback on the worker:\n%s", unit.id, detail)
        return exc
    return PermanentError(f"unit {unit.id} failed on dask: {describe_error(exc)}")


def _key_safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40]


def _pack(flow: str, home: Home, store: Store) -> bytes:
    try:
        return pack(home, store)
    except Exception as exc:
        raise PermanentError(
            f"flow {flow}: its home or store cannot be sent to dask workers "
            f"({describe_error(exc)}); the plugin must list open resources in `transient`"
        ) from None


def _dist(module: str) -> str:
    """The distribution that provides `module` here on the driver (`hygge_cloud` →
    `hygge-cloud`), to name what the worker lacks."""
    top = module.split(".", 1)[0]
    dists = metadata.packages_distributions().get(top)
    return dists[0] if dists else top.replace("_", "-")
