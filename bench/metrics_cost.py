"""What hygge-metrics costs a run, measured where it is paid (issue 20: at most 2% of a
5M-row Parquet → Parquet run).

The plugin does nothing per batch; a run with `metrics:` pays for validating the section,
then, when it ends, for the `hygge_run_finished` hook: importing the exporter and what it
needs, building the payload and one or two local requests. Each sample is a fresh
interpreter that first runs a small real flow without metrics (so everything a run imports
is already there, as at the end of a real run), refills the plugin's timeline as a 5-unit
flow would, then times, with perf_counter and process_time, the section's validation and
the hook. Implementations are interleaved: this tree's plugin and, with `--old REV`, the
plugin as it was at REV (extracted from git and put first on sys.path).

    .venv/bin/python bench/metrics_cost.py --old 2aeaba6 --reps 15 --run-seconds 4.6
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PLUGIN_SRC = "plugins/hygge_metrics/src/hygge_metrics"

CHILD = r"""
import json, sys, time
from types import SimpleNamespace as NS
old, kind, url, flows = sys.argv[1:5]
if old:
    sys.path.insert(0, old)
from hygge_core.api import run_file
results = run_file(flows)  # a real run, no metrics: imports all a run imports
import hygge_metrics.plugin as plugin
from hygge_metrics.config import MetricsSettings
assert plugin.__file__.startswith(old or "/"), plugin.__file__
for r in results:  # as a 5-unit flow leaves the timeline at its end
    plugin.hygge_flow_started(NS(run_id=r.run_id, home="parquet x", store="parquet y",
                                 mode="replace"))
    for i in range(5):
        plugin.hygge_unit_staged(NS(run_id=r.run_id, unit=f"u{i}", rows=10**6, bytes=10**8))
w0, c0 = time.perf_counter(), time.process_time()
raw = {kind: url, "timeout": 5}
if kind == "pushgateway":
    raw["job"] = "hygge-metrics-cost"
settings = MetricsSettings.model_validate(raw)
w1, c1 = time.perf_counter(), time.process_time()
plugin.hygge_run_finished(NS(settings={"metrics": settings}, dry_run=False, results=results))
w2, c2 = time.perf_counter(), time.process_time()
print("COST", json.dumps({"validate_ms": (w1 - w0) * 1e3, "hook_ms": (w2 - w1) * 1e3,
                          "cpu_ms": (c2 - c0) * 1e3}))
"""


# What each plugin imports when the run ends, after what a run has loaded (the old plugin's
# libraries, and the new plugin's modules).
IMPORTS = {
    "before, textfile / Pushgateway: prometheus_client + parser": (
        "import prometheus_client, prometheus_client.parser"
    ),
    "before, otlp: OpenTelemetry SDK + OTLP/HTTP exporters": (
        "import opentelemetry.sdk.trace, opentelemetry.sdk.metrics, opentelemetry.sdk.resources,"
        " opentelemetry.sdk.metrics.export,"
        " opentelemetry.sdk.trace.export.in_memory_span_exporter,"
        " opentelemetry.exporter.otlp.proto.http.trace_exporter,"
        " opentelemetry.exporter.otlp.proto.http.metric_exporter"
    ),
    "after, textfile / Pushgateway: hygge_metrics.export": "import hygge_metrics.export",
    "after, otlp: hygge_metrics.otel": "import hygge_metrics.otel",
}
LOADED = "import hygge_core.api, hygge_core.cli, pyarrow.parquet, hygge_metrics.plugin"


def import_ms(statement: str) -> float:
    """`python -X importtime`: the milliseconds of `statement`'s top-level imports, in an
    interpreter that has already imported what a run imports."""
    marker = "import sys; sys.stderr.write('MARK\\n'); "
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"{LOADED}; {marker}{statement}"],
        capture_output=True,
        text=True,
        check=True,
    )
    total = 0
    for line in done.stderr.split("MARK\n", 1)[1].splitlines():
        parts = line.split("|")
        # "import time: self | cumulative | name", the name indented by depth
        if line.startswith("import time:") and not parts[2].startswith("  "):
            total += int(parts[1])
    return total / 1000


def extract(rev: str, into: Path) -> Path:
    """The plugin's package as it was at `rev`, under `into/hygge_metrics`."""
    package = into / "hygge_metrics"
    package.mkdir(parents=True)
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", f"{rev}:{PLUGIN_SRC}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in names:
        if name.endswith(".py"):
            text = subprocess.run(
                ["git", "show", f"{rev}:{PLUGIN_SRC}/{name}"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            (package / name).write_text(text)
    return into


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--old", help="also measure the plugin as it was at this git revision")
    p.add_argument("--reps", type=int, default=15, help="samples per implementation and kind")
    p.add_argument("--run-seconds", type=float, help="the baseline run's wall seconds (for %%)")
    p.add_argument("--import-reps", type=int, default=7, help="samples of -X importtime each")
    args = p.parse_args()
    # The libraries the plugin used to import (prometheus-client, opentelemetry-sdk and
    # -exporter-otlp-proto-http) must be installed to measure the plugin before (--old).
    imports = {k: v for k, v in IMPORTS.items() if args.old or not k.startswith("before")}
    times: dict[str, list[float]] = {k: [] for k in imports}
    for _ in range(args.import_reps):
        for name, statement in imports.items():
            times[name].append(import_ms(statement))
    print(f"python -X importtime, {args.import_reps} samples each, ms, median (min-max)\n")
    print("| imported at the end of a run | ms |\n|---|--:|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f}) |")
    print()
    sys.path.insert(0, str(HERE))
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml
    from workloads import OtlpReceiver

    receiver = OtlpReceiver()
    work = Path(tempfile.mkdtemp(prefix="hygge-metrics-cost-"))
    pq.write_table(pa.table({"id": [1, 2, 3]}), work / "in.parquet")
    flows = work / "flows.yaml"
    flows.write_text(
        yaml.safe_dump(
            {
                "flows": {
                    "bench": {
                        "home": {"type": "parquet", "path": str(work / "in.parquet")},
                        "store": {"type": "parquet", "path": str(work / "out"), "mode": "replace"},
                    }
                }
            }
        )
    )
    kinds = {"textfile": str(work / "hygge.prom"), "otlp": receiver.url}
    if os.environ.get("HYGGE_TEST_PUSHGATEWAY_URL"):
        kinds["pushgateway"] = os.environ["HYGGE_TEST_PUSHGATEWAY_URL"]
    impls = {"this tree": ""}
    if args.old:
        impls[f"at {args.old}"] = str(extract(args.old, work / "old"))
    samples: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(args.reps):
        for kind, url in kinds.items():
            for impl, path in impls.items():
                done = subprocess.run(
                    [sys.executable, "-c", CHILD, path, kind, url, str(flows)],
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                line = [x for x in done.stdout.splitlines() if x.startswith("COST ")]
                if done.returncode or not line:
                    raise SystemExit(f"{impl} {kind}: exit {done.returncode}\n{done.stderr}")
                samples.setdefault((impl, kind), []).append(json.loads(line[-1][5:]))
                if kind == "otlp" and receiver.check():
                    raise SystemExit(f"{impl} {kind}: the requests did not arrive")
    print(f"{args.reps} samples each, interleaved; ms; median (min-max)\n")
    print(
        "| plugin | destination | validate ms | hook ms (import + export) | total ms | CPU ms |"
        + (" % of run |" if args.run_seconds else "")
    )
    print("|---|---|--:|--:|--:|--:|" + ("--:|" if args.run_seconds else ""))
    for (impl, kind), rows in samples.items():

        def cell(key: str, rows: list[dict[str, float]] = rows) -> str:
            values = [r[key] for r in rows]
            return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"

        for r in rows:
            r["total_ms"] = r["validate_ms"] + r["hook_ms"]
        total = statistics.median(r["total_ms"] for r in rows)
        share = f" {total / 10 / args.run_seconds:.2f}% |" if args.run_seconds else ""
        print(f"| {impl} | {kind} | {cell('validate_ms')} | {cell('hook_ms')} | "
              f"{cell('total_ms')} | {cell('cpu_ms')} |{share}")  # fmt: skip


if __name__ == "__main__":
    main()
