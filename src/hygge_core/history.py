"""Run history across flows, read from the state each store keeps with the data.

Each flow's store holds its last committed runs (`FlowState.runs`, see `hygge_core.state`);
`hygge history`, its HTML page and `hygge serve` all read them through `collect`, so what
they show is what the stores committed, never a separate log that could disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hygge_core.errors import describe_error
from hygge_core.secrets import SECRET_KEYS, mask_url

if TYPE_CHECKING:
    from hygge_core.config.resolve import Plan, ResolvedFlow
    from hygge_core.plugins import Registry


@dataclass
class FlowHistory:
    """One flow's committed runs (oldest first), or the reason they could not be read."""

    flow: str
    home_type: str
    store_type: str
    route: str  # "home → store", as their describe() says (secrets masked)
    config: dict[str, Any]  # the flow's home and store settings, secrets masked
    runs: list[dict[str, Any]] = field(default_factory=list)
    cursor: str | None = None  # "column = value" of an incremental flow
    error: str | None = None  # why the state could not be read

    def as_json(self) -> dict[str, Any]:
        """Plain JSON data, as `hygge history --json` prints it."""
        return {
            "flow": self.flow,
            "home_type": self.home_type,
            "store_type": self.store_type,
            "route": self.route,
            "config": self.config,
            "cursor": self.cursor,
            "error": self.error,
            "runs": self.runs,
        }


def collect(plan: Plan, registry: Registry, redact: Callable[[str], str]) -> list[FlowHistory]:
    """Every selected flow's history, in the order of flows.yaml; `redact` masks secrets."""
    from hygge_core.runner import Runner, RunOptions

    runner = Runner(plan, registry, None, RunOptions())
    found = []
    for name, flow in plan.flows.items():
        ctx = runner.context(flow, "history")
        home = flow.home_cls(flow.home_config, ctx)
        store = flow.store_cls(flow.store_config, ctx)
        entry = FlowHistory(
            flow=name,
            home_type=flow.home_config.type,
            store_type=flow.store_config.type,
            route=redact(f"{home.describe()} → {store.describe()}"),
            config=config_summary(flow, redact),
        )
        try:
            state = store.read_state()
        except Exception as exc:  # one unreadable store must not hide the others
            entry.error = redact(describe_error(exc))
            state = None
        finally:
            home.close()
            store.close()
        if state is not None:
            entry.runs = [r.model_dump(mode="json") for r in state.runs]
            if state.cursor is not None:
                entry.cursor = redact(f"{state.cursor.column} = {state.cursor.python_value()}")
        found.append(entry)
    return found


def config_summary(flow: ResolvedFlow, redact: Callable[[str], str]) -> dict[str, Any]:
    """The flow's home and store settings as set in flows.yaml, secrets masked: values of
    secret-named fields become `***`, others pass the run's redactor and URL masking."""
    return {
        "home": _masked(flow.home_config.model_dump(mode="json", exclude_defaults=True), redact),
        "store": _masked(flow.store_config.model_dump(mode="json", exclude_defaults=True), redact),
    }


def _masked(value: Any, redact: Callable[[str], str], key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _masked(v, redact, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, redact, key) for v in value]
    if key and SECRET_KEYS.search(key) and value not in (None, "", False):
        return "***"
    if isinstance(value, str):
        return mask_url(redact(value))
    return value


def rows_of(histories: list[FlowHistory], flow: str | None = None) -> list[dict[str, Any]]:
    """Every run of every flow as one row, newest first (the table of `hygge history`)."""
    rows = [
        {"flow": h.flow, **run}
        for h in histories
        if flow is None or h.flow == flow
        for run in h.runs
    ]
    return sorted(rows, key=lambda r: str(r.get("finished_at", "")), reverse=True)
