"""Running flows from Python: what the CLI does, without the CLI.

This module is public (docs/plugins/api.md): orchestrator integrations such as
hygge-dagster use only these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hygge_core.config import load_document, resolve_file
from hygge_core.history import FlowHistory, collect
from hygge_core.plugins import load_registry
from hygge_core.report import Reporter
from hygge_core.runner import FlowResult, Runner, RunOptions
from hygge_core.secrets import Redactor, collect_secrets

__all__ = ["FlowHistory", "flow_names", "history", "run_file"]


def run_file(
    path: str,
    flows: list[str] | None = None,
    *,
    concurrency: int = 2,
    executor: str | None = None,
    executor_options: dict[str, Any] | None = None,
    fail_fast: bool = False,
    quiet: bool = True,
    observers: Sequence[object] = (),
) -> list[FlowResult]:
    """Run the flows of a flows.yaml file and return one result per flow.

    `observers` are plugin objects (lifecycle hook implementations, such as
    `hygge_core.testing.EventRecorder`) registered for this run only.

    Raises `ConfigError` for a bad file, like `hygge run` exiting 2; flow failures are in
    the results (status "failed"), like `hygge run` exiting 1.
    """
    registry = load_registry()
    plan = resolve_file(load_document(path), registry, only=flows)
    redact = Redactor(collect_secrets(plan.doc, plan.connections))
    # Quiet: no reporter at all (a plugin's observers still see every event).
    reporter = None if quiet else Reporter(redact)
    options = RunOptions(
        concurrency=concurrency,
        fail_fast=fail_fast,
        executor=executor,
        executor_options=executor_options or {},
    )
    for observer in observers:
        registry.pm.register(observer)
    return Runner(plan, registry, reporter, options).run()


def flow_names(path: str) -> list[str]:
    """The flows of a flows.yaml file, in its order; raises `ConfigError` for a bad file."""
    return list(resolve_file(load_document(path), load_registry()).flows)


def history(path: str, flows: list[str] | None = None) -> list[FlowHistory]:
    """Each flow's committed runs as its store keeps them (see `hygge history`); a store
    that cannot be read gives a `FlowHistory` with its `error` set instead of raising."""
    registry = load_registry()
    plan = resolve_file(load_document(path), registry, only=flows)
    redact = Redactor(collect_secrets(plan.doc, plan.connections))
    return collect(plan, registry, redact)
