"""Turn a run's flow results into Prometheus metrics and hand them to their destinations.

Counters are cumulative across runs, as Prometheus expects of `_total` series: each export
reads back what its destination already holds (the textfile, or the flow's group on the
Pushgateway), adds this run's counts and writes the sum. Flows this run did not select keep
their series, and a failed flow keeps its last success time.
"""

from __future__ import annotations

import logging
import time
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, push_to_gateway, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from hygge_metrics.config import MetricsSettings
from hygge_metrics.lag import lag_seconds

log = logging.getLogger("hygge.metrics")

LABELS = ("flow", "home_type", "store_type")

# name → (kind, help). Counters keep adding up; gauges hold the latest value.
METRICS: dict[str, tuple[str, str]] = {
    "hygge_flow_runs_total": ("counter", "Runs of the flow that ended (ok or failed)."),
    "hygge_flow_failures_total": ("counter", "Runs of the flow that failed."),
    "hygge_flow_retries_total": ("counter", "Transient faults retried by the flow's runs."),
    "hygge_flow_rows_total": ("counter", "Rows committed by the flow."),
    "hygge_flow_bytes_total": ("counter", "Bytes (Arrow in memory) committed by the flow."),
    "hygge_flow_duration_seconds": ("gauge", "Seconds the flow's last run took."),
    "hygge_flow_last_run_success": ("gauge", "1 if the flow's last run succeeded, else 0."),
    "hygge_flow_last_success_timestamp_seconds": (
        "gauge",
        "Unix time the flow last committed successfully.",
    ),
    "hygge_flow_lag_seconds": (
        "gauge",
        "Age of the newest cursor value committed (incremental flows on a time cursor).",
    ),
}

# One sample per (metric, flow): the flow's labels and the value.
Samples = dict[tuple[str, str], tuple[dict[str, str], float]]


def export(settings: MetricsSettings, results: Iterable[Any]) -> None:
    """Write the metrics of `results` to every configured destination; never raise."""
    finished = [r for r in results if r.status in ("ok", "failed")]
    if not finished:
        return
    now = time.time()
    if settings.textfile:
        _to_textfile(settings.textfile, finished, now)
    if settings.pushgateway:
        _to_pushgateway(settings, finished, now)


def _to_textfile(path: str, results: list[Any], now: float) -> None:
    file = Path(path)
    try:
        old = _parse(file.read_text(), {}) if file.exists() else {}
        write_to_textfile(str(file), _registry(_merge(old, results, now)))
    except Exception as exc:  # metrics never fail the run
        log.warning("could not write the metrics textfile %s: %s", path, exc)


def _to_pushgateway(settings: MetricsSettings, results: list[Any], now: float) -> None:
    """One group per flow (job, flow): a run of some flows replaces only their groups."""
    url = str(settings.pushgateway).rstrip("/")
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=settings.timeout) as response:
            # A shared gateway may hold many other jobs' series: keep hygge's lines (and
            # their HELP/TYPE) before the pure-Python parser sees them.
            held = "".join(
                line for line in response.read().decode().splitlines(True) if "hygge_flow_" in line
            )
        for result in results:
            old = _parse(held, {"job": settings.job, "flow": result.name})
            push_to_gateway(
                url,
                job=settings.job,
                grouping_key={"flow": result.name},
                registry=_registry(_merge(old, [result], now)),
                timeout=settings.timeout,
            )
    except Exception as exc:  # a gateway down must not fail flows that committed
        log.warning(
            "could not push metrics to the Pushgateway at %s: %s "
            "(the flows' results are unaffected)",
            url,
            exc,
        )


def _parse(text: str, match: dict[str, str]) -> Samples:
    """hygge's samples in an exposition text, those whose labels include `match`."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in METRICS and "flow" in s.labels and match.items() <= s.labels.items():
                labels = {k: s.labels.get(k, "") for k in LABELS}
                samples[(s.name, s.labels["flow"])] = (labels, s.value)
    return samples


def _merge(old: Samples, results: list[Any], now: float) -> Samples:
    """`old` with this run's results added (counters) or replaced (gauges)."""
    samples = dict(old)
    for r in results:
        labels = {"flow": r.name, "home_type": r.home_type, "store_type": r.store_type}
        ok = r.status == "ok"

        def put(name: str, value: float, *, r: Any = r, labels: dict[str, str] = labels) -> None:
            if METRICS[name][0] == "counter":
                value += old.get((name, r.name), ({}, 0.0))[1]
            samples[(name, r.name)] = (labels, float(value))

        put("hygge_flow_runs_total", 1)
        put("hygge_flow_failures_total", 0 if ok else 1)
        put("hygge_flow_retries_total", r.retries)
        put("hygge_flow_rows_total", r.rows if ok else 0)
        put("hygge_flow_bytes_total", r.bytes if ok else 0)
        put("hygge_flow_duration_seconds", r.seconds)
        put("hygge_flow_last_run_success", 1 if ok else 0)
        if ok:
            put("hygge_flow_last_success_timestamp_seconds", now)
            lag = lag_seconds(r.cursor_after, now)
            if lag is not None:
                put("hygge_flow_lag_seconds", lag)
        for name in METRICS:  # carried-over samples take this run's labels
            if (name, r.name) in samples:
                samples[(name, r.name)] = (labels, samples[(name, r.name)][1])
    return samples


class _Collector:
    """Hands prometheus_client the merged samples as metric families."""

    def __init__(self, samples: Samples) -> None:
        self.samples = samples

    def collect(self) -> Iterator[Metric]:
        for name, (kind, help_text) in METRICS.items():
            family_type = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            family = family_type(name, help_text, labels=LABELS)
            rows = sorted((f, v) for (n, f), v in self.samples.items() if n == name)
            for _, (labels, value) in rows:
                family.add_metric([labels[k] for k in LABELS], value)
            if rows:
                yield family


def _registry(samples: Samples) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(samples))
    return registry
