"""OpenTelemetry for a hygge run: one trace per flow (a span per flow, a child span per
work unit) and the run's metrics, sent through the OTLP/HTTP exporter when `metrics:` has
`otlp:`.

A batch job's spans are known only as the run goes, but whether to export them is known
only at its end (`RunEvent.settings`): `Timeline` notes the times the hooks see (cheap:
one entry per flow attempt and per unit) and `export` builds the spans with those times.
Units report when they were staged, not when they started, so a unit's span runs from its
flow's start (or the previous attempt's start) to the moment its receipt reached the
driver.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hygge_metrics.config import MetricsSettings
from hygge_metrics.lag import lag_seconds

SCOPE = "hygge"


@dataclass
class FlowTimes:
    """What the hooks saw of one flow's run: its start and each staged unit."""

    started_ns: int
    home: str = ""
    store: str = ""
    mode: str = ""
    units: list[tuple[str, int, int, int]] = field(default_factory=list)  # id, end, rows, bytes


class Timeline:
    """Flow and unit times of the runs in progress, by run id (hooks fire on many
    threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flows: dict[str, FlowTimes] = {}

    def flow_started(self, run_id: str, home: str, store: str, mode: str) -> None:
        with self._lock:
            # A retried attempt starts again: keep the first start, drop the units staged
            # by the attempt that failed (they were aborted).
            old = self._flows.get(run_id)
            self._flows[run_id] = FlowTimes(
                old.started_ns if old else time.time_ns(), home, store, mode
            )

    def unit_staged(self, run_id: str, unit: str, rows: int, nbytes: int) -> None:
        with self._lock:
            times = self._flows.get(run_id)
            if times is not None:
                times.units.append((unit, time.time_ns(), rows, nbytes))

    def pop(self, run_id: str | None) -> FlowTimes | None:
        with self._lock:
            return self._flows.pop(run_id or "", None)


def export(
    settings: MetricsSettings,
    results: Iterable[Any],
    timeline: Timeline,
    *,
    span_exporter: Any = None,
    metric_exporter: Any = None,
) -> None:
    """Send the finished flows' spans and metrics, each in one request; exporters may be
    given (tests use the SDK's in-memory one), else OTLP/HTTP to `settings.otlp`. A failed
    export costs one warning line; never raises."""
    import logging

    log = logging.getLogger("hygge.metrics")
    finished = [r for r in results if r.status in ("ok", "failed")]
    times = {r.name: timeline.pop(r.run_id) for r in finished}
    if not finished:
        return
    failed = []
    # The OTLP exporters log every retry themselves; hygge says it once, below.
    quiet = logging.getLogger("opentelemetry.exporter")
    level, quiet.level = quiet.level, logging.CRITICAL + 1
    try:
        span_exporter = span_exporter or _otlp(settings, "traces")
        metric_exporter = metric_exporter or _otlp(settings, "metrics")
        if span_exporter.export(spans(settings, finished, times)).name != "SUCCESS":
            failed.append("traces")
        data = metric_data(settings, finished)
        if metric_exporter.export(data, timeout_millis=settings.timeout * 1000).name != "SUCCESS":
            failed.append("metrics")
    except ImportError as exc:
        log.warning(
            "metrics: otlp: needs OpenTelemetry (%s): pip install 'hygge-metrics[otel]'", exc
        )
    except Exception as exc:  # a collector down must not fail flows that committed
        failed.append(f"{type(exc).__name__}: {exc}")
    finally:
        quiet.setLevel(level)
    if failed:
        log.warning(
            "could not send OpenTelemetry data to %s (%s; the flows' results are unaffected)",
            settings.otlp,
            ", ".join(failed),
        )


def _otlp(settings: MetricsSettings, signal: str) -> Any:
    """The OTLP/HTTP exporter of `signal` (traces or metrics) for `settings.otlp`."""
    endpoint = f"{str(settings.otlp).rstrip('/')}/v1/{signal}"
    options: dict[str, Any] = {
        "endpoint": endpoint,
        "headers": settings.otlp_headers or None,
        "timeout": settings.timeout,
    }
    if signal == "traces":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(**options)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter(**options)


def _resource(settings: MetricsSettings) -> Any:
    from opentelemetry.sdk.resources import Resource

    return Resource.create({"service.name": settings.service_name})


def _attributes(r: Any) -> dict[str, Any]:
    return {
        "hygge.flow": r.name,
        "hygge.home_type": r.home_type,
        "hygge.store_type": r.store_type,
        "hygge.run_id": r.run_id or "",
        "hygge.status": r.status,
        "hygge.rows": r.rows if r.status == "ok" else 0,
        "hygge.bytes": r.bytes if r.status == "ok" else 0,
        "hygge.units": r.units,
        "hygge.retries": r.retries,
    }


def spans(
    settings: MetricsSettings, results: list[Any], times: dict[str, FlowTimes | None]
) -> list[Any]:
    """The finished spans of the run: per flow one, with a child per staged unit."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    held = InMemorySpanExporter()
    provider = TracerProvider(resource=_resource(settings))
    provider.add_span_processor(SimpleSpanProcessor(held))
    tracer = provider.get_tracer(SCOPE)
    now = time.time_ns()
    for r in results:
        flow_times = times.get(r.name)
        start = flow_times.started_ns if flow_times else now - int(r.seconds * 1e9)
        span = tracer.start_span(f"flow {r.name}", start_time=start, attributes=_attributes(r))
        if flow_times:
            span.set_attribute("hygge.mode", flow_times.mode)
            span.set_attribute("hygge.home", flow_times.home)
            span.set_attribute("hygge.store", flow_times.store)
        parent = trace.set_span_in_context(span)
        for unit, end, rows, nbytes in flow_times.units if flow_times else []:
            child = tracer.start_span(
                f"unit {unit}",
                context=parent,
                start_time=start,
                attributes={"hygge.flow": r.name, "hygge.unit": unit, "hygge.rows": rows,
                            "hygge.bytes": nbytes},
            )  # fmt: skip
            child.end(end_time=end)
        if r.status == "failed":
            span.set_status(trace.Status(trace.StatusCode.ERROR, r.error or "failed"))
        span.end(end_time=max(start, start + int(r.seconds * 1e9)))
    provider.shutdown()
    return list(held.get_finished_spans())


def metric_data(settings: MetricsSettings, results: list[Any]) -> Any:
    """The run's metrics as the SDK's `MetricsData`: counters and a duration histogram
    per flow (labels flow, home_type, store_type)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=_resource(settings), metric_readers=[reader])
    meter = provider.get_meter(SCOPE)
    runs = meter.create_counter("hygge.flow.runs", "{run}", "Runs of the flow that ended.")
    failures = meter.create_counter("hygge.flow.failures", "{run}", "Runs that failed.")
    retries = meter.create_counter("hygge.flow.retries", "{retry}", "Transient faults retried.")
    rows = meter.create_counter("hygge.flow.rows", "{row}", "Rows committed.")
    nbytes = meter.create_counter("hygge.flow.bytes", "By", "Bytes committed (Arrow).")
    duration = meter.create_histogram("hygge.flow.duration", "s", "Seconds a flow's run took.")
    lag = meter.create_gauge(
        "hygge.flow.lag", "s", "Age of the newest cursor value committed (time cursors)."
    )
    last_success = meter.create_gauge(
        "hygge.flow.last_success", "s", "Unix time the flow last committed successfully."
    )
    now = time.time()
    for r in results:
        labels = {"flow": r.name, "home_type": r.home_type, "store_type": r.store_type}
        ok = r.status == "ok"
        runs.add(1, labels)
        failures.add(0 if ok else 1, labels)
        retries.add(r.retries, labels)
        rows.add(r.rows if ok else 0, labels)
        nbytes.add(r.bytes if ok else 0, labels)
        duration.record(r.seconds, labels)
        if ok:
            last_success.set(now, labels)
            behind = lag_seconds(r.cursor_after, now)
            if behind is not None:
                lag.set(behind, labels)
    data = reader.get_metrics_data()
    provider.shutdown()
    return data
