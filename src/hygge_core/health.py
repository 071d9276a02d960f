"""Health checks (`hygge doctor`): what would make the next run fail, or what a crash left.

Checks, per flow: the home and the store answer (`check()`: reachable, credentials
accepted, permission to write), the state can be read, and whatever the store reports
about itself through `Store.health()` — unfinished commit records, staging left by a run
that never committed, free space where it can be measured. Once per file: plugins that
failed to load, and types two distributions claim.

A store with its own notion of staging (a staging table, a format's own log) reports it by
overriding `Store.health()`, returning `Finding`s; it is the only hook a plugin needs.

Exit codes of `hygge doctor` (for cron and Kubernetes probes): 0 healthy; 1 at least one
error (a run would fail); 2 the file itself is invalid; 3 warnings only (a crash left work
that the next run rolls forward or removes, or space is low).
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from hygge_core.errors import describe_error

if TYPE_CHECKING:
    from collections.abc import Callable

    from hygge_core.config.resolve import Plan
    from hygge_core.plugins import Registry

Level = Literal["ok", "warning", "error"]

# Exit codes, by the worst level found.
EXIT = {"ok": 0, "error": 1, "warning": 3}
LOW_SPACE = 1 << 30  # free bytes below which a local store is reported (1 GiB)


@dataclass(frozen=True)
class Finding:
    """One result of a health check: `level` ok, warning or error; `check` names the check
    (connection, state, commit, staging, space, plugins); `message` says what was found
    and what to do."""

    level: Level
    check: str
    message: str
    flow: str | None = None

    def as_json(self) -> dict[str, Any]:
        """Plain JSON data, as `hygge doctor --json` prints it."""
        return asdict(self)


def diagnose(plan: Plan, registry: Registry, redact: Callable[[str], str]) -> list[Finding]:
    """Every finding for the plugins and each selected flow of `plan`, secrets masked."""
    from hygge_core.plugins import conflict_message
    from hygge_core.runner import Runner, RunOptions

    findings = [
        Finding("error", "plugins", f"{b.render()}; fix or uninstall it (hygge plugins)")
        for b in registry.broken
    ]
    findings += [
        Finding("warning", "plugins", conflict_message(kind, name, dists))
        for kind, name, dists in registry.conflicts()
    ]
    runner = Runner(plan, registry, None, RunOptions())
    for name, flow in plan.flows.items():
        ctx = runner.context(flow, "doctor")
        home = flow.home_cls(flow.home_config, ctx)
        store = flow.store_cls(flow.store_config, ctx)
        try:
            found = _flow_findings(home, store)
        finally:
            home.close()
            store.close()
        findings += [Finding(f.level, f.check, redact(f.message), flow=name) for f in found]
    return findings


def _flow_findings(home: Any, store: Any) -> list[Finding]:
    found = []
    for side, obj in (("home", home), ("store", store)):
        try:
            problem = obj.check()
        except Exception as exc:
            problem = describe_error(exc)
        if problem:
            found.append(Finding("error", "connection", f"{side} {obj.describe()}: {problem}"))
        else:
            found.append(Finding("ok", "connection", f"{side} {obj.describe()} answers"))
    if found[-1].level == "error":  # the store's state and staging cannot be looked at
        return found
    try:
        state = store.read_state()
        runs = len(state.runs) if state else 0
        found.append(Finding("ok", "state", f"state readable ({runs} committed run(s) kept)"))
    except Exception as exc:
        found.append(
            Finding(
                "error",
                "state",
                f"cannot read the state: {describe_error(exc)}; `hygge state reset` clears it "
                "(the next run is then a full load)",
            )
        )
    try:
        found += store.health()
    except Exception as exc:
        found.append(Finding("error", "state", f"store health check failed: {describe_error(exc)}"))
    return found


def free_space(path: str, low: int = LOW_SPACE) -> Finding | None:
    """Free space of the local disk holding `path` (or its nearest existing parent); None
    when `path` is not on a local disk."""
    import os

    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            return None
        probe = parent
    free = shutil.disk_usage(probe).free
    from hygge_core.report import human_bytes

    if free < low:
        return Finding(
            "warning",
            "space",
            f"only {human_bytes(free)} free on the disk of {path}: a run staging more than that "
            "fails; free space or move the store",
        )
    return Finding("ok", "space", f"{human_bytes(free)} free on the disk of {path}")


def exit_code(findings: list[Finding]) -> int:
    """0 healthy, 1 any error, 3 warnings only (see the module docstring)."""
    levels = {f.level for f in findings}
    return EXIT["error"] if "error" in levels else EXIT["warning"] if "warning" in levels else 0
