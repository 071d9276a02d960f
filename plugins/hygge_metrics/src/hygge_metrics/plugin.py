"""Registers the `metrics:` section of flows.yaml and exports each run's metrics when it
ends (entry point `hygge.metrics`). prometheus_client is imported only when a run has a
`metrics:` section, so runs without one pay nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hygge_core import hookimpl
from hygge_metrics.config import MetricsSettings


@hookimpl
def hygge_register_settings(register: Callable[[str, type], None]) -> None:
    register("metrics", MetricsSettings)


@hookimpl
def hygge_run_finished(event: Any) -> None:
    settings = event.settings.get("metrics")
    if settings is None or event.dry_run:
        return
    from hygge_metrics.export import export

    export(settings, event.results)
