"""Running flows from Python: what the CLI does, without the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hygge_core.config import load_document, resolve_file
from hygge_core.plugins import load_registry
from hygge_core.report import Reporter
from hygge_core.runner import FlowResult, Runner, RunOptions
from hygge_core.secrets import Redactor, collect_secrets


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
