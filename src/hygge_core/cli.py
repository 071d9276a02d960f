"""The `hygge` command line."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from hygge_core import __version__

if TYPE_CHECKING:
    from hygge_core.config.loader import Document
    from hygge_core.config.resolve import Plan
    from hygge_core.plugins import Registry
    from hygge_core.runner import Runner
    from hygge_core.secrets import Redactor

# Commands import the engine inside their bodies: `hygge --help` and `--version` stay as
# quick as Python itself, and pyarrow loads only when there is data to move.

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="hygge moves data from where it lives (a home) to where it should settle (a store).",
    pretty_exceptions_enable=False,
)
state_app = typer.Typer(
    help="Show or reset the state flows keep in their stores.", no_args_is_help=True
)
app.add_typer(state_app, name="state")

err = Console(stderr=True, highlight=False, soft_wrap=True)
# Off a terminal there is no width to fit: keep tables whole for logs and pipes.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 240)


class LogFormat(StrEnum):
    """How `hygge run` reports progress."""

    text = "text"
    json = "json"


class WriteMode(StrEnum):
    """`hygge run --mode`: the write mode of every selected flow's store, for one run."""

    append = "append"
    replace = "replace"  # type: ignore[assignment]  # (str.replace: a member named so)
    merge = "merge"


FileArg = Annotated[str, typer.Argument(help="the flows file, e.g. flows.yaml")]
VarOption = Annotated[
    list[str] | None,
    typer.Option(
        "--var",
        help="set a variable the file uses as ${var.NAME}: NAME=VALUE (repeatable; "
        "wins over vars: in the file)",
    ),
]


def _version(value: bool) -> None:
    if value:
        out.print(f"hygge {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="show the version and exit"
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log more detail")] = False,
) -> None:
    """hygge: extract and load, exactly once, at the speed of Arrow."""
    from hygge_core.secrets import guard_logging

    # Every log line, a library's included, is masked: see hygge_core.secrets.
    guard_logging(
        logging.DEBUG if verbose else logging.WARNING, "%(levelname)s %(name)s: %(message)s"
    )
    if os.environ.get("HYGGE_TRACE_PLUGINS") == "1":
        # Asking for the trace is asking to see it, whatever the verbosity.
        logging.getLogger("hygge.plugins").setLevel(logging.INFO)


def _fail(message: str, code: int) -> typer.Exit:
    err.print(message, markup=False)
    return typer.Exit(code)


def _registry() -> Registry:
    from hygge_core.errors import PluginError
    from hygge_core.plugins import conflict_message, load_registry

    try:
        registry = load_registry()
    except PluginError as exc:
        raise _fail(f"error: {exc}", 2) from None
    for broken in registry.broken:
        err.print(f"warning: {broken.render()}", markup=False)
    # A type claimed twice is unusable, but only flows that use it fail (exit 2).
    for kind, name, dists in registry.conflicts():
        err.print(f"warning: {conflict_message(kind, name, dists)}", markup=False)
    return registry


def _plan(
    file: str,
    registry: Registry,
    flows: list[str] | None = None,
    variables: list[str] | None = None,
    mode: str | None = None,
    mode_from: str = "--mode",
) -> Plan:
    from hygge_core.config import load_document, resolve_file
    from hygge_core.config.variables import parse_assignments
    from hygge_core.errors import ConfigError, PluginError

    try:
        given = parse_assignments(variables or [])
    except ValueError as exc:
        raise _fail(f"error: {exc}", 2) from None
    doc = None
    try:
        doc = load_document(file, variables=given)
        plan = resolve_file(doc, registry, only=flows or None, mode=mode, mode_from=mode_from)
    except ConfigError as exc:
        n = len(exc.problems)
        # A problem may quote a value (a URL with its password, say): mask it like the rest.
        redact = _redactor_of(doc, {})
        message = f"{exc.render()}\n{n} problem{'s' if n != 1 else ''} in {file}"
        raise _fail(redact(message), 2) from None
    except PluginError as exc:  # a storage class of a connection, say
        raise _fail(_redactor_of(doc, {})(f"error: {exc}"), 2) from None
    _redactor(plan)  # from here on, log lines know the config's secrets
    return plan


def _redactor(plan: Plan) -> Redactor:
    return _redactor_of(plan.doc, plan.connections)


def _redactor_of(doc: Document | None, connections: dict[str, Any]) -> Redactor:
    """The command's redactor, which log lines use from now on too."""
    from hygge_core.secrets import Redactor, collect_secrets, redact_logs

    redact = Redactor(collect_secrets(doc, connections))
    redact_logs(redact)
    return redact


@app.command()
def run(
    file: FileArg,
    flow: Annotated[
        list[str] | None,
        typer.Option(
            "--flow",
            "-f",
            help="run only this flow, a template's flows, or the flows a pattern matches "
            "('shop.*'); repeatable",
        ),
    ] = None,
    var: VarOption = None,
    mode: Annotated[
        WriteMode | None,
        typer.Option("--mode", help="write every selected flow's store in this mode, this run"),
    ] = None,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="ignore committed cursors and replace each store's data with a full read",
        ),
    ] = False,
    concurrency: Annotated[
        int | None,
        typer.Option(help="flows run at once (default: the cores the process may use)"),
    ] = None,
    memory: Annotated[
        str | None,
        typer.Option(
            "--memory",
            help="run-wide byte budget shared by the flows, e.g. 1GB "
            "(default: memory: atop FILE, else a quarter of the container's limit, at most 512MB)",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the plan; move nothing")] = False,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="stop every flow at the first failure")
    ] = False,
    executor: Annotated[str | None, typer.Option(help="where units run: local, dask, ...")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address")] = None,
    log_format: Annotated[
        LogFormat, typer.Option("--log-format", help="text or json")
    ] = LogFormat.text,
) -> None:
    """Run the flows of FILE: move each home's data into its store, exactly once."""
    from hygge_core.errors import HyggeError, PluginError
    from hygge_core.report import JsonReporter, LiveReporter, Reporter
    from hygge_core.runner import Runner, RunOptions

    budget = _memory_option(memory)
    if full_refresh and mode not in (None, WriteMode.replace):
        raise _fail(
            f"error: --full-refresh replaces each store's data, so it cannot run with "
            f"--mode {mode}; drop one of them",
            2,
        )
    registry = _registry()
    asked = "--full-refresh" if full_refresh else "--mode"
    chosen = "replace" if full_refresh else (mode.value if mode else None)
    plan = _plan(file, registry, flow, var, chosen, asked)
    redact = _redactor(plan)
    reporter: Reporter
    if log_format is LogFormat.json:
        reporter = JsonReporter(redact)
    elif sys.stderr.isatty() and not dry_run:
        reporter = LiveReporter(redact)
    else:
        reporter = Reporter(redact)
    options = RunOptions(
        concurrency=None if concurrency is None else max(1, concurrency),
        memory=budget,
        fail_fast=fail_fast,
        dry_run=dry_run,
        # A scheduler address only means something to the Dask executor.
        executor=executor or ("dask" if scheduler else None),
        executor_options={"address": scheduler} if scheduler else {},
        full_refresh=full_refresh,
    )
    runner = Runner(plan, registry, reporter, options)
    interrupted = _stop_on_interrupt(runner.interrupt)
    try:
        # The reporter is a plugin of this run: it prints the summary from
        # `hygge_run_finished`, like any other observer would see it.
        results = runner.run()
    except PluginError as exc:  # the executor chosen with --executor is broken
        raise _fail(redact(f"error: {exc}"), 2) from None
    except HyggeError as exc:
        raise _fail(redact(f"error: {exc}"), 1) from None
    finally:
        reporter.close()
    if dry_run:
        _print_sizing(runner)
        _print_plan(plan, results, redact)
        raise typer.Exit(0)
    if interrupted.is_set():
        raise _fail("interrupted", 130)
    raise typer.Exit(0 if all(r.status == "ok" for r in results) else 1)


def _memory_option(text: str | None) -> int | None:
    from hygge_core.config.models import parse_bytes

    if text is None:
        return None
    try:
        return parse_bytes(text)
    except ValueError as exc:
        raise _fail(f"error: --memory: {exc}", 2) from None


def _print_sizing(runner: Runner) -> None:
    from hygge_core.report import human_bytes

    out.print(
        f"memory: {human_bytes(runner.budget.total)} for the run ({runner.budget.why})\n"
        f"cores: {runner.limits.cores} ({runner.limits.cores_source})",
        markup=False,
    )


def _stop_on_interrupt(stop: Callable[[], None]) -> threading.Event:
    """The first Ctrl-C calls `stop` (flows abort what they staged and end, the summary
    follows, exit 130); the second kills the process at once, which the commit protocol
    is built to survive. Returns an event set once Ctrl-C was pressed."""
    pressed = threading.Event()

    def first(signum: int, frame: Any) -> None:
        pressed.set()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        # Plain write: the handler may run while the main thread holds a console lock.
        os.write(2, b"interrupted: stopping, nothing more is committed (Ctrl-C again to kill)\n")
        stop()

    signal.signal(signal.SIGINT, first)
    return pressed


def _print_plan(plan: Plan, results: list[Any], redact: Redactor) -> None:
    for r in results:
        flow = plan.flows[r.name]
        # A first incremental run has a cursor but no bound yet: it reads everything.
        bounded = r.window is not None and r.window.after is not None
        window = f"{r.window.cursor} > {r.window.after!r}" if bounded else "full"
        if r.status == "failed":
            out.print(redact(f"{r.name}: cannot plan: {r.error}"), markup=False)
            continue
        out.print(
            redact(
                f"{r.name}: {flow.home_config.type} → {flow.store_config.type} "
                f"(mode {flow.store_config.mode}, read {window}), {r.units} work unit(s)\n"
                f"  {r.route}"
            ),
            markup=False,
        )
        if r.memory is not None:
            from hygge_core.report import human_bytes

            m = r.memory
            out.print(
                f"  memory {human_bytes(m.budget)}, {m.units} unit(s) in flight of "
                f"{human_bytes(m.share.total)} each ({m.why})",
                markup=False,
            )
        for unit in r.plan[:20]:
            est = f" ~{unit.estimated_rows:,} rows" if unit.estimated_rows else ""
            out.print(redact(f"  - {unit.id}{est}"), markup=False)
        if len(r.plan) > 20:
            out.print(f"  ... {len(r.plan) - 20} more")


@app.command()
def validate(
    file: FileArg,
    connect: Annotated[
        bool, typer.Option("--connect", help="also try every home and store once")
    ] = False,
    var: VarOption = None,
) -> None:
    """Check FILE without moving data: every problem is reported at once."""
    from hygge_core.runner import Runner, RunOptions, describe_error

    registry = _registry()
    plan = _plan(file, registry, variables=var)
    redact = _redactor(plan)
    failures = 0
    if connect:
        runner = Runner(plan, registry, None, RunOptions())
        for flow in plan.flows.values():
            ctx = runner.context(flow, "check")
            for side, obj in (
                ("home", flow.home_cls(flow.home_config, ctx)),
                ("store", flow.store_cls(flow.store_config, ctx)),
            ):
                try:
                    problem = obj.check()
                except Exception as exc:
                    problem = describe_error(exc)
                if not problem and side == "home" and flow.shaping:
                    # The transforms and checks against the home's real columns.
                    try:
                        flow.shaping.output_schema(obj.schema())
                    except Exception as exc:
                        problem = describe_error(exc)
                if problem:
                    failures += 1
                    out.print(
                        redact(f"{flow.name}: {side} {obj.describe()}: {problem}"), markup=False
                    )
    n = len(plan.flows)
    if failures:
        raise _fail(f"{file}: {failures} connection problem(s)", 1)
    out.print(
        f"{file}: {n} flow{'s' if n != 1 else ''} valid"
        + (", all connections answer" if connect else "")
    )


@app.command()
def init(
    file: Annotated[str, typer.Argument(help="the file to write")] = "flows.yaml",
) -> None:
    """Write a commented starter flows.yaml (and the example file its flow reads)."""
    from hygge_core.errors import HyggeError
    from hygge_core.starter import write_starter

    registry = _registry()
    try:
        written = write_starter(file, registry)
    except HyggeError as exc:
        raise _fail(f"error: {exc}", 1) from None
    out.print(f"wrote {', '.join(written)}; next: hygge run {file}", markup=False)


@app.command()
def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """List installed plugins: distribution, version, types and hooks."""
    from rich.table import Table

    from hygge_core.errors import PluginError
    from hygge_core.plugins import conflict_message, misplaced_entry_points
    from hygge_core.testing.capabilities import declared_capabilities

    registry = _registry()
    conflicts = [
        {"kind": kind, "type": name, "distributions": [d.split(" ")[0] for d in dists],
         "error": conflict_message(kind, name, dists)}
        for kind, name, dists in registry.conflicts()
    ]  # fmt: skip
    unusable: list[dict[str, str]] = []

    def capabilities(kind: str, name: str) -> dict[str, Any]:
        """What the kit checks the type against, as its class declares it; a type that
        cannot load is listed with its error instead of stopping the listing."""
        table = registry.homes if kind == "home" else registry.stores
        try:
            return declared_capabilities(table[name], kind)
        except PluginError as exc:
            if name not in table.conflicts:
                owner = table.owner.get(name, "? ?").split(" ")
                unusable.append(
                    {"distribution": owner[0], "version": owner[-1], "kind": kind,
                     "type": name, "error": str(exc)}
                )  # fmt: skip
                err.print(f"warning: {exc}", markup=False)
            return {"error": str(exc)}

    rows: list[dict[str, Any]] = [
        {
            "distribution": p.dist,
            "version": p.version,
            "homes": sorted(p.homes),
            "stores": sorted(p.stores),
            "executors": sorted(p.executors),
            "storage": sorted(p.storages),
            "transforms": sorted(p.transforms),
            "checks": sorted(p.checks),
            "hooks": sorted(p.hooks),
            "capabilities": {
                **{f"home:{n}": capabilities("home", n) for n in sorted(p.homes)},
                **{f"store:{n}": capabilities("store", n) for n in sorted(p.stores)},
            },
        }
        for p in registry.plugins.values()
    ]
    broken = [
        {"distribution": b.dist, "version": b.version, "error": b.cause} for b in registry.broken
    ]
    misplaced = misplaced_entry_points()
    for line in misplaced:
        err.print(f"warning: {line}", markup=False)
    if as_json:
        report = {
            "plugins": rows,
            "broken": broken,
            "conflicts": conflicts,
            "unusable": unusable,
            "ignored_entry_points": misplaced,
        }
        print(json.dumps(report, indent=2))
        return
    table = Table(title="hygge plugins", title_justify="left")
    for col in ("distribution", "version", "homes", "stores", "capabilities", "other", "hooks"):
        table.add_column(col)
    clash = {(c["kind"], c["type"]) for c in conflicts}

    def names(kind: str, found: list[str]) -> str:
        return ", ".join(f"{n} (conflict)" if (kind, n) in clash else n for n in found)

    for r in rows:
        other = ", ".join(
            [f"executor:{e}" for e in names("executor", r["executors"]).split(", ") if e]
            + [f"storage:{s}" for s in names("storage", r["storage"]).split(", ") if s]
            + [f"transform:{t}" for t in names("transform", r["transforms"]).split(", ") if t]
            + [f"check:{c}" for c in names("check", r["checks"]).split(", ") if c]
        )
        table.add_row(
            r["distribution"],
            r["version"],
            names("home", r["homes"]),
            names("store", r["stores"]),
            escape("; ".join(_capability_text(k, v) for k, v in r["capabilities"].items())),
            other,
            ", ".join(r["hooks"]),
        )
    out.print(table)


def _capability_text(name: str, caps: dict[str, Any]) -> str:
    """`store:parquet: append, replace` / `home:sql: incremental, splits`."""
    if "error" in caps:
        return f"{name}: cannot load (see the warning)"
    if "modes" in caps:
        return f"{name}: {', '.join(caps['modes'])}"
    flags = [k for k in ("incremental", "splits") if caps.get(k)]
    return f"{name}: {', '.join(flags) or 'full reads'}"


@app.command()
def preview(
    file: FileArg,
    flow: Annotated[str, typer.Option("--flow", "-f", help="the flow whose home to show")],
    limit: Annotated[int, typer.Option(help="rows to show")] = 10,
    var: VarOption = None,
) -> None:
    """Show the first rows of a flow's home, as a table; with the flow's transform: applied,
    and its checks: evaluated on that sample."""
    from rich.table import Table

    from hygge_core.runner import Runner, RunOptions, describe_error

    registry = _registry()
    plan = _plan(file, registry, [flow], var)
    flow = _one_flow(plan, flow)
    resolved = plan.flows[flow]
    redact = _redactor(plan)
    runner = Runner(plan, registry, None, RunOptions())
    home = resolved.home_cls(resolved.home_config, runner.context(resolved, "preview"))
    shaping = resolved.shaping
    if shaping:
        import datetime as dt

        shaping = shaping.for_run("preview", dt.datetime.now(dt.UTC))
    outcomes: list[Any] = []
    try:
        schema = home.schema()
        if shaping:
            schema = shaping.output_schema(schema)
        rows: list[dict[str, Any]] = []
        sample = _sample(home, limit, shaping)
        rows = sample.slice(0, limit).to_pylist() if sample is not None else []
        if shaping and shaping.checks and sample is not None:
            outcomes = _preview_checks(shaping, sample)
    except Exception as exc:
        raise _fail(redact(f"{flow}: {describe_error(exc)}"), 1) from None
    finally:
        home.close()
    title = f"{flow}: {home.describe()}" + (" (transformed)" if shaping else "")
    table = Table(title=escape(redact(title)), title_justify="left")
    for field in schema:
        table.add_column(escape(f"{field.name}\n{field.type}"))
    for row in rows:
        table.add_row(*("∅" if row[n] is None else escape(str(row[n])) for n in schema.names))
    out.print(table)
    for o in outcomes:
        status = "ok" if o.passed else ("FAIL" if o.severity == "error" else "warn")
        out.print(
            redact(f"{status}: {o.describe()} (on the {len(rows)} sample rows)"), markup=False
        )


def _sample(home: Any, limit: int, shaping: Any) -> Any:
    """The first `limit` rows of the home, transformed (a filter may need more batches)."""
    import pyarrow as pa

    batches: list[Any] = []
    have = 0
    for unit in home.plan(None):
        for batch in home.read(unit):
            if shaping:
                batch = shaping.apply(batch)
            batch = batch.slice(0, limit - have)
            if batch.num_rows:
                batches.append(batch)
                have += batch.num_rows
            if have >= limit:
                break
        if have >= limit:
            break
    return pa.Table.from_batches(batches).combine_chunks() if batches else None


def _preview_checks(shaping: Any, sample: Any) -> list[Any]:
    """The flow's checks on the sample: each as it would report on a run of those rows."""
    from hygge_core.checks import UnitScope

    partials = shaping.open(UnitScope(shaping.flow, "preview", "preview", 0))
    try:
        for batch in sample.to_batches():
            shaping.observe(partials, batch)
    finally:
        shaping.finish(partials)
    try:
        return list(shaping.outcomes([partials]))
    finally:
        shaping.cleanup([partials])


def _home_for(plan: Plan, registry: Registry, name: str) -> Any:
    from hygge_core.runner import Runner, RunOptions

    resolved = plan.flows[name]
    runner = Runner(plan, registry, None, RunOptions())
    return resolved.home_cls(resolved.home_config, runner.context(resolved, "state"))


def _one_flow(plan: Plan, asked: str) -> str:
    """The single flow `--flow` chose, for commands that act on one (a pattern may match
    more, or a template name stand for several)."""
    if len(plan.flows) != 1:
        names = ", ".join(plan.flows)
        raise _fail(f"error: --flow {asked} matches {len(plan.flows)} flows ({names}); name one", 2)
    return next(iter(plan.flows))


def _store_for(plan: Plan, registry: Registry, name: str) -> Any:
    from hygge_core.runner import Runner, RunOptions

    resolved = plan.flows[name]
    runner = Runner(plan, registry, None, RunOptions())
    return resolved.store_cls(resolved.store_config, runner.context(resolved, "state"))


@state_app.command("show")
def state_show(
    file: FileArg,
    flow: Annotated[str | None, typer.Option("--flow", "-f", help="only this flow")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    var: VarOption = None,
) -> None:
    """Print each flow's cursor and its last runs, as its store keeps them."""
    from hygge_core.errors import describe_error

    registry = _registry()
    plan = _plan(file, registry, [flow] if flow else None, var)
    redact = _redactor(plan)
    states: dict[str, Any] = {}
    sources: dict[str, str | None] = {}
    for name in plan.flows:
        try:
            state = _store_for(plan, registry, name).read_state()
        except Exception as exc:
            raise _fail(redact(f"{name}: {describe_error(exc)}"), 1) from None
        try:  # the store's state is the answer; the home's line is a bonus
            sources[name] = _home_for(plan, registry, name).status(state)
        except Exception as exc:
            sources[name] = f"home: {describe_error(exc)}"
        states[name] = state.model_dump(mode="json") if state else None
    if as_json:
        with_source = {
            n: ({**s, "source": sources[n]} if s and sources[n] else s) for n, s in states.items()
        }
        print(redact(json.dumps(with_source, indent=2, default=str)))
        return
    for name, state in states.items():
        if state is None:
            out.print(f"{name}: no state (the next run is a full load)")
            if sources[name]:
                out.print(redact(f"  {sources[name]}"), markup=False)
            continue
        cursor = state.get("cursor")
        shown = f"{cursor['column']} = {_cursor_text(cursor)}" if cursor else "none"
        out.print(f"{name}: cursor {shown}", markup=False)
        if sources[name]:
            out.print(redact(f"  {sources[name]}"), markup=False)
        if state.get("position") is not None:  # a home's own bookmark (Home.position)
            out.print(f"  position {json.dumps(state['position'])}", markup=False)
        for r in state["runs"][-5:]:
            out.print(
                f"  {r['finished_at']}  run {r['run_id']}  {r['mode']}  {r['rows']:,} rows",
                markup=False,
            )


def _cursor_text(cursor: dict[str, Any]) -> str:
    from hygge_core.state import CursorState

    return str(CursorState.model_validate(cursor).python_value())


@state_app.command("reset")
def state_reset(
    file: FileArg,
    flow: Annotated[str, typer.Option("--flow", "-f", help="the flow to reset")],
    var: VarOption = None,
) -> None:
    """Forget a flow's cursor and history: its next run is a full load."""
    from hygge_core.errors import describe_error

    registry = _registry()
    plan = _plan(file, registry, [flow], var)
    flow = _one_flow(plan, flow)
    try:
        had = _store_for(plan, registry, flow).reset_state()
    except Exception as exc:
        raise _fail(_redactor(plan)(f"{flow}: {describe_error(exc)}"), 1) from None
    out.print(f"{flow}: state reset" if had else f"{flow}: had no state")


@app.command()
def history(
    file: FileArg,
    flow: Annotated[str | None, typer.Option("--flow", "-f", help="only this flow")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    html: Annotated[
        str | None,
        typer.Option("--html", help="write a self-contained HTML page with charts to this file"),
    ] = None,
    var: VarOption = None,
) -> None:
    """List the committed runs of every flow (newest first), as their stores keep them."""
    from pathlib import Path

    from hygge_core.dashboard import render
    from hygge_core.history import collect, rows_of

    registry = _registry()
    plan = _plan(file, registry, [flow] if flow else None, var)
    redact = _redactor(plan)
    histories = collect(plan, registry, redact)
    for h in histories:
        if h.error:
            err.print(f"warning: {h.flow}: cannot read its state: {h.error}", markup=False)
    if html:
        Path(html).write_text(render(histories, file), encoding="utf-8")
        out.print(f"wrote {html} ({len(histories)} flow(s))", markup=False)
    elif as_json:
        print(json.dumps([h.as_json() for h in histories], indent=2, default=str))
    else:
        _print_history(rows_of(histories), histories)
    raise typer.Exit(1 if any(h.error for h in histories) else 0)


def _print_history(rows: list[dict[str, Any]], histories: list[Any]) -> None:
    from rich.table import Table

    from hygge_core.report import human_bytes

    table = Table(title="hygge history", title_justify="left")
    columns = ("finished", "flow", "run", "status", "mode", "rows", "bytes", "seconds", "retries")
    for col in columns:
        table.add_column(col, justify="right" if col in ("rows", "bytes", "seconds") else "left")
    for r in rows:
        table.add_row(
            escape(str(r["finished_at"])),
            escape(r["flow"]),
            escape(str(r["run_id"])),
            escape(str(r.get("status", "ok"))),
            escape(str(r["mode"])),
            f"{r['rows']:,}",
            human_bytes(r.get("bytes", 0)),
            f"{r.get('seconds', 0):.2f}",
            str(r.get("retries", 0)),
        )
    out.print(table)
    for r in rows:
        if r.get("status") == "failed":
            out.print(escape(f"{r['flow']} run {r['run_id']} failed: {r.get('error')}"))
    for h in histories:
        if not h.runs and not h.error:
            out.print(f"{h.flow}: no committed run yet", markup=False)


@app.command()
def doctor(
    file: FileArg,
    flow: Annotated[
        list[str] | None, typer.Option("--flow", "-f", help="check only this flow (repeatable)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    var: VarOption = None,
) -> None:
    """Check FILE's plugins, connections, permissions, free space and state.

    Exit 0 healthy, 1 an error (a run would fail), 2 FILE is invalid, 3 warnings only."""
    from hygge_core.health import diagnose, exit_code

    registry = _registry()
    plan = _plan(file, registry, flow, var)
    findings = diagnose(plan, registry, _redactor(plan))
    code = exit_code(findings)
    if as_json:
        print(json.dumps({"exit": code, "findings": [f.as_json() for f in findings]}, indent=2))
        raise typer.Exit(code)
    marks = {"ok": "ok     ", "warning": "WARNING", "error": "ERROR  "}
    for f in findings:
        where = f"{f.flow}: " if f.flow else ""
        out.print(f"{marks[f.level]} {where}{f.check}: {f.message}", markup=False)
    counts = {level: sum(f.level == level for f in findings) for level in ("error", "warning")}
    verdict = {0: "healthy", 1: "unhealthy", 3: "healthy, with warnings"}[code]
    out.print(
        f"{file}: {verdict} ({counts['error']} error(s), {counts['warning']} warning(s))",
        markup=False,
    )
    raise typer.Exit(code)


@app.command()
def serve(
    file: FileArg,
    port: Annotated[int, typer.Option(help="port on 127.0.0.1 (0: any free port)")] = 8765,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    var: VarOption = None,
) -> None:
    """Serve the run-history page live (/), Prometheus metrics (/metrics) and /health."""
    from hygge_core.serve import serve as serve_forever

    registry = _registry()
    plan = _plan(file, registry, variables=var)
    serve_forever(file, plan, registry, _redactor(plan), host, port, out.print)


def main() -> None:
    """Console-script entry point.

    Once the command has finished — data committed, output written — the process ends
    with `os._exit`: tearing down the interpreter (every module, Arrow's thread pools and
    allocator) cost a `hygge run` more than 0.1 s and does nothing a finished run needs.
    `HYGGE_CLEAN_EXIT=1` keeps the normal teardown (for profilers and leak checks).

    pydantic's plugins (observability hooks on validation) would only see hygge's own
    config being read, and looking for them scans every installed distribution's entry
    points (~25 ms of a run's start-up), so the command does not load them unless
    `PYDANTIC_DISABLE_PLUGINS` is set otherwise (an empty value loads them all). And
    OpenBLAS, which numpy loads under pyarrow, starts a thread per core that spins at
    import (~35 ms of CPU) for linear algebra hygge never does: one thread unless
    `OPENBLAS_NUM_THREADS` says otherwise. Both are set here, in the command only: a
    program that imports hygge as a library keeps its own settings.
    """
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    code: int
    try:
        app()
        code = 0
    except KeyboardInterrupt:
        err.print("interrupted")
        code = 130
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            err.print(str(exc.code))
            code = 1
    except Exception as exc:  # a bug, or an error no command translated: still masked
        from hygge_core.secrets import RedactingFormatter

        logging.getLogger("hygge").debug("unexpected error", exc_info=True)
        err.print(RedactingFormatter.current(f"error: {type(exc).__name__}: {exc}"), markup=False)
        code = 1
    if os.environ.get("HYGGE_CLEAN_EXIT"):
        sys.exit(code)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
