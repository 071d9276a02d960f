"""Turn a run's flow results into Prometheus metrics and hand them to their destinations.

Counters are cumulative across runs, as Prometheus expects of `_total` series: each export
reads back what its destination already holds (the textfile, or the flow's group on the
Pushgateway), adds this run's counts and writes the sum. Flows this run did not select keep
their series, and a failed flow keeps its last success time.

The exposition text is written and read here, not through prometheus_client: importing it
cost about 35 ms per run (issue 20's budget is 2% of a 5M-row run, ~65 ms for every
destination together), and hygge's few gauges and counters need a dozen lines of format.
The tests read every file and push back with prometheus_client's own parser.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hygge_metrics.config import MetricsSettings
from hygge_metrics.lag import lag_seconds

log = logging.getLogger("hygge.metrics")

LABELS = ("flow", "home_type", "store_type")

# The Pushgateway's and node-exporter's text format, version 0.0.4.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

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
        # Written beside the file and renamed over it, so node-exporter never reads half
        # a file; open() rather than mkstemp keeps the umask's mode (mkstemp's 0600 would
        # hide the file from a node-exporter running as another user).
        temporary = file.with_name(f"{file.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            with open(temporary, "w", encoding="utf-8") as out:
                out.write(exposition(_merge(old, results, now)))
            os.replace(temporary, file)
        finally:
            temporary.unlink(missing_ok=True)
    except Exception as exc:  # metrics never fail the run
        log.warning("could not write the metrics textfile %s: %s", path, exc)


def _to_pushgateway(settings: MetricsSettings, results: list[Any], now: float) -> None:
    """One group per flow (job, flow): a run of some flows replaces only their groups."""
    url = str(settings.pushgateway).rstrip("/")
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=settings.timeout) as response:
            # A shared gateway may hold many other jobs' series: keep hygge's lines
            # before the parser sees them.
            held = "".join(
                line for line in response.read().decode().splitlines(True) if "hygge_flow_" in line
            )
        for result in results:
            old = _parse(held, {"job": settings.job, "flow": result.name})
            group = _group_path({"job": settings.job, "flow": result.name})
            body = exposition(_merge(old, [result], now)).encode()
            request = urllib.request.Request(
                f"{url}/metrics/{group}",
                data=body,
                method="PUT",  # PUT replaces the whole group, as prometheus_client's push does
                headers={"Content-Type": CONTENT_TYPE},
            )
            with urllib.request.urlopen(request, timeout=settings.timeout) as response:
                response.read()
    except Exception as exc:  # a gateway down must not fail flows that committed
        log.warning(
            "could not push metrics to the Pushgateway at %s: %s "
            "(the flows' results are unaffected)",
            url,
            exc,
        )


def _group_path(key: dict[str, str]) -> str:
    """The Pushgateway's URL path of a grouping key: `job/<job>/flow/<flow>`; a value
    that is empty or holds a `/` goes base64-encoded (`name@base64/...`), as the
    Pushgateway's API asks."""
    parts = []
    for name, value in key.items():
        if value == "" or "/" in value:
            encoded = base64.urlsafe_b64encode(value.encode()).decode() or "="
            parts.append(f"{name}@base64/{encoded}")
        else:
            parts.append(f"{name}/{urllib.parse.quote(value, safe='')}")
    return "/".join(parts)


def exposition(samples: Samples) -> str:
    """The samples in the text exposition format: per metric its HELP and TYPE (a
    counter's family name without `_total`, as the format's parsers expect), then one line
    per flow, by flow name."""
    lines = []
    for name, (kind, help_text) in METRICS.items():
        rows = sorted((f, v) for (n, f), v in samples.items() if n == name)
        if not rows:
            continue
        family = name.removesuffix("_total") if kind == "counter" else name
        lines.append(f"# HELP {family} {_escape_help(help_text)}")
        lines.append(f"# TYPE {family} {kind}")
        for _, (labels, value) in rows:
            pairs = ",".join(f'{k}="{_escape_label(labels[k])}"' for k in LABELS)
            lines.append(f"{name}{{{pairs}}} {_number(value)}")
    return "\n".join(lines) + "\n" if lines else ""


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


# A sample line: name, optional {labels}, value, optional timestamp. Label values are
# quoted with \\, \" and \n escapes, so the label block ends at the line's last '}'.
_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+\S+)?[ \t]*$")
_LABEL = re.compile(r'[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"[ \t]*,?')
_UNESCAPE = re.compile(r"\\(.)")


def _labels(text: str) -> dict[str, str]:
    labels = {}
    for match in _LABEL.finditer(text):
        labels[match[1]] = _UNESCAPE.sub(
            lambda m: "\n" if m[1] == "n" else m[1], match[2]
        )  # \\ → \, \" → ", \n → newline
    return labels


def _parse(text: str, match: dict[str, str]) -> Samples:
    """hygge's samples in an exposition text, those whose labels include `match`."""
    samples: Samples = {}
    for line in text.splitlines():
        if not line.startswith("hygge_flow_"):  # comments, blank lines, others' series
            continue
        found = _SAMPLE.match(line)
        if found is None or found[1] not in METRICS:
            continue
        labels = _labels(found[2] or "")
        if "flow" in labels and match.items() <= labels.items():
            try:
                value = float(found[3])  # Go writes +Inf, NaN, 1.7e+09: float() reads them
            except ValueError:
                continue
            kept = {k: labels.get(k, "") for k in LABELS}
            samples[(found[1], labels["flow"])] = (kept, value)
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
