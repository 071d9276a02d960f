"""OpenTelemetry for a hygge run: one trace per flow (a span per flow, a child span per
work unit) and the run's metrics, sent to a collector over OTLP/HTTP when `metrics:` has
`otlp:`.

A batch job's spans are known only as the run goes, but whether to export them is known
only at its end (`RunEvent.settings`): `Timeline` notes the times the hooks see (cheap:
one entry per flow attempt and per unit) and `export` builds the spans with those times.
Units report when they were staged, not when they started, so a unit's span runs from its
flow's start (or the previous attempt's start) to the moment its receipt reached the
driver.

The two requests are OTLP's protobuf messages (`ExportTraceServiceRequest`,
`ExportMetricsServiceRequest`), encoded here by `otlp_proto` and posted with urllib, not
through the OpenTelemetry SDK and its OTLP exporter: importing those cost 80-100 ms per
run, over issue 20's budget of 2% of a 5M-row run, for what is one span list and a dozen
data points written once. The tests decode every request with `opentelemetry-proto`.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Any

from hygge_metrics import otlp_proto as pb
from hygge_metrics.config import MetricsSettings
from hygge_metrics.lag import lag_seconds
from hygge_metrics.timeline import FlowTimes, Timeline

log = logging.getLogger("hygge.metrics")

SCOPE = "hygge"

# The OpenTelemetry SDK's default histogram buckets, kept so that dashboards built on
# the earlier SDK export see the same `le` bounds.
DURATION_BOUNDS = (0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000)

# Answers after which OTLP/HTTP says a client should try again.
RETRYABLE = {429, 502, 503, 504}


def export(settings: MetricsSettings, results: Iterable[Any], timeline: Timeline) -> None:
    """Send the finished flows' spans and metrics to `settings.otlp`, one OTLP/HTTP
    request each, retried while the collector asks for it within `settings.timeout`. A
    failed export costs one warning line; never raises."""
    finished = [r for r in results if r.status in ("ok", "failed")]
    times = {r.name: timeline.pop(r.run_id) for r in finished}
    if not finished:
        return
    base = str(settings.otlp).rstrip("/")
    headers = {
        **_env_headers(),
        **settings.otlp_headers,
        "Content-Type": "application/x-protobuf",
    }
    deadline = time.monotonic() + settings.timeout
    failed = []
    for signal, build in (
        ("traces", lambda: traces_request(settings, finished, times)),
        ("metrics", lambda: metrics_request(settings, finished, times)),
    ):
        try:
            _post(f"{base}/v1/{signal}", build(), headers, deadline)
        except Exception:  # a collector down must not fail flows that committed
            failed.append(signal)
    if failed:
        log.warning(
            "could not send OpenTelemetry data to %s (%s; the flows' results are unaffected)",
            settings.otlp,
            ", ".join(failed),
        )


def _post(url: str, body: bytes, headers: dict[str, str], deadline: float) -> None:
    """POST `body`; on a refused connection or a retryable answer wait (0.25 s, doubling)
    and try again until `deadline`, as OTLP exporters do."""
    pause = 0.25
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(url)
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=left) as response:
                response.read()
                return
        except urllib.error.HTTPError as exc:
            if exc.code not in RETRYABLE:
                raise
        except OSError:  # refused, reset, timed out: the collector may be starting
            pass
        if time.monotonic() + pause >= deadline:
            raise TimeoutError(url)
        time.sleep(pause)
        pause *= 2


def _env_headers() -> dict[str, str]:
    """`OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`, values URL-encoded), which the SDK's
    exporter honoured; `otlp_headers:` wins over it."""
    raw = os.environ.get("OTEL_EXPORTER_OTLP_HEADERS", "")
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {k.strip(): urllib.parse.unquote(v.strip()) for k, v in pairs}


def resource(settings: MetricsSettings) -> bytes:
    """The resource of every span and point: `OTEL_RESOURCE_ATTRIBUTES` (as the SDK read
    it), then `service.name` from `service_name:`."""
    attributes: dict[str, Any] = {"telemetry.sdk.language": "python"}
    for item in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        if "=" in item:
            key, value = item.split("=", 1)
            attributes[key.strip()] = urllib.parse.unquote(value.strip())
    attributes["service.name"] = settings.service_name
    return pb.resource(attributes)


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


def traces_request(
    settings: MetricsSettings, results: list[Any], times: dict[str, FlowTimes | None]
) -> bytes:
    """The run's spans as an `ExportTraceServiceRequest`: per flow one span (its own
    trace), with a child per staged unit."""
    now = time.time_ns()
    spans = []
    for r in results:
        flow_times = times.get(r.name)
        start = flow_times.started_ns if flow_times else now - int(r.seconds * 1e9)
        end = max(start, start + int(r.seconds * 1e9))
        trace_id, span_id = os.urandom(16), os.urandom(8)
        attributes = _attributes(r)
        if flow_times:
            attributes["hygge.mode"] = flow_times.mode
            attributes["hygge.home"] = flow_times.home
            attributes["hygge.store"] = flow_times.store
        error = (r.error or "failed") if r.status == "failed" else None
        spans.append(pb.span(trace_id, span_id, b"", f"flow {r.name}", start, end, attributes,
                             error))  # fmt: skip
        for unit, unit_end, rows, nbytes in flow_times.units if flow_times else []:
            spans.append(
                pb.span(
                    trace_id,
                    os.urandom(8),
                    span_id,
                    f"unit {unit}",
                    start,
                    unit_end,
                    {"hygge.flow": r.name, "hygge.unit": unit, "hygge.rows": rows,
                     "hygge.bytes": nbytes},
                    None,
                )
            )  # fmt: skip
    return pb.trace_request(resource(settings), pb.scope(SCOPE), spans)


def metrics_request(
    settings: MetricsSettings, results: list[Any], times: dict[str, FlowTimes | None]
) -> bytes:
    """The run's metrics as an `ExportMetricsServiceRequest`: per flow (attributes flow,
    home_type, store_type) the counters as cumulative sums of this run, a duration
    histogram, and the gauges last_success and lag."""
    now_s = time.time()
    now = int(now_s * 1e9)
    points: dict[str, list[bytes]] = {}

    def add(name: str, point: bytes) -> None:
        points.setdefault(name, []).append(point)

    for r in results:
        labels = {"flow": r.name, "home_type": r.home_type, "store_type": r.store_type}
        flow_times = times.get(r.name)
        start = flow_times.started_ns if flow_times else now - int(r.seconds * 1e9)
        ok = r.status == "ok"
        add("hygge.flow.runs", pb.int_point(labels, start, now, 1))
        add("hygge.flow.failures", pb.int_point(labels, start, now, 0 if ok else 1))
        add("hygge.flow.retries", pb.int_point(labels, start, now, r.retries))
        add("hygge.flow.rows", pb.int_point(labels, start, now, r.rows if ok else 0))
        add("hygge.flow.bytes", pb.int_point(labels, start, now, r.bytes if ok else 0))
        add("hygge.flow.duration", pb.histogram_point(labels, start, now, r.seconds,
                                                      DURATION_BOUNDS))  # fmt: skip
        if ok:
            add("hygge.flow.last_success", pb.double_point(labels, 0, now, now_s))
            behind = lag_seconds(r.cursor_after, now_s)
            if behind is not None:
                add("hygge.flow.lag", pb.double_point(labels, 0, now, behind))
    metrics = []
    for name, unit, description, kind in METRICS:
        if name in points:
            metrics.append(pb.metric(name, description, unit, kind, points[name]))
    return pb.metrics_request(resource(settings), pb.scope(SCOPE), metrics)


# name, unit, description, kind (sum: a monotonic cumulative counter).
METRICS = [
    ("hygge.flow.runs", "{run}", "Runs of the flow that ended.", "sum"),
    ("hygge.flow.failures", "{run}", "Runs that failed.", "sum"),
    ("hygge.flow.retries", "{retry}", "Transient faults retried.", "sum"),
    ("hygge.flow.rows", "{row}", "Rows committed.", "sum"),
    ("hygge.flow.bytes", "By", "Bytes committed (Arrow).", "sum"),
    ("hygge.flow.duration", "s", "Seconds a flow's run took.", "histogram"),
    ("hygge.flow.lag", "s", "Age of the newest cursor value committed (time cursors).", "gauge"),
    ("hygge.flow.last_success", "s", "Unix time the flow last committed successfully.", "gauge"),
]
