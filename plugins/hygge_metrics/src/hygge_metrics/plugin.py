"""Registers the `metrics:` section of flows.yaml and exports each run's metrics when it
ends (entry point `hygge.metrics`). The exporters (export.py: Prometheus text; otel.py:
OTLP protobuf) are imported only when a run's `metrics:` section asks for them, and use
nothing but the standard library, so runs without one pay nothing but the few timestamps
the OpenTelemetry spans are built from, and runs with one 6-9 ms of CPU when they end
(bench/README.md, "hygge-metrics overhead")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hygge_core import hookimpl
from hygge_metrics.config import MetricsSettings
from hygge_metrics.timeline import Timeline

# Flow and unit times of runs in progress, for the OpenTelemetry spans (see otel.py).
TIMELINE = Timeline()


@hookimpl
def hygge_register_settings(register: Callable[[str, type], None]) -> None:
    register("metrics", MetricsSettings)


@hookimpl
def hygge_flow_started(event: Any) -> None:
    TIMELINE.flow_started(event.run_id, event.home, event.store, event.mode)


@hookimpl
def hygge_unit_staged(event: Any) -> None:
    TIMELINE.unit_staged(event.run_id, event.unit, event.rows, event.bytes)


@hookimpl
def hygge_run_finished(event: Any) -> None:
    settings = event.settings.get("metrics")
    if settings is None or event.dry_run:
        for r in event.results:  # nothing to export: forget the run's times
            TIMELINE.pop(r.run_id)
        return
    if settings.pushgateway or settings.textfile:
        from hygge_metrics.export import export

        export(settings, event.results)
    if settings.otlp:
        from hygge_metrics import otel

        otel.export(settings, event.results, TIMELINE)
    for r in event.results:
        TIMELINE.pop(r.run_id)
