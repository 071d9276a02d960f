"""Where a hygge run spends its CPU: ``py-spy`` profiles of the benchmark's hygge flows.

Runs ``hygge run`` on the same flows the benchmark times (Parquet → Parquet, CSV → Parquet,
PostgreSQL → Parquet, Parquet → PostgreSQL) under ``py-spy record --native --threads`` and
writes, per workload, a short summary next to the results: samples by thread, the functions
that hold the most samples themselves (native frames included: Arrow's readers, writers and
codecs), and the share of a few stages chosen by frame name (reading, Parquet writing,
encoding, COPY, hygge's own Python). The raw collapsed stacks are kept beside it
(``.raw``, for flamegraph tools) but not committed.

Usage::

    .venv/bin/pip install py-spy
    python bench/profile.py --rows 2000000 --only parquet_to_parquet,csv_to_parquet
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen
from schema import DATA_DIR, RESULTS_DIR
from workloads import PgTarget, hygge_cli

PROFILE_DIR = RESULTS_DIR / "profiles"
SPY_ARGS = ["record", "--native", "--threads", "--rate", "100", "--format", "raw"]

# Stages by frame name: the frame nearest the leaf that matches any pattern decides, patterns
# in this order, so that e.g. snappy under the Parquet writer counts as compression.
STAGES = [
    ("compression (snappy)", r"snappy|Snappy"),
    ("parquet write: statistics", r"GetMinMax|Statistics|TypedComparator"),
    ("parquet write: dictionary", r"DictEncoder|MemoTable|HashTable"),
    ("parquet write: plain/delta encoding", r"PlainEncoder|DeltaBitPack|DeltaLength|DeltaByte"),
    ("parquet write: other", r"parquet::.*Writer|FileWriter|write_table|WriteArrow|WriteBatch"),
    ("CSV parsing and conversion", r"csv::|open_csv"),
    ("parquet read / decode", r"Decoder|ColumnReader|RecordReader|iter_batches|parquet::"),
    ("PostgreSQL: ADBC COPY reader", r"adbcpq|Adbc|adbc|getCopyData|nanoarrow|ArrowBuffer"),
    ("PostgreSQL: hygge's binary COPY encoder", r"pgcopy\.py"),
    ("PostgreSQL: psycopg / libpq", r"psycopg|libpq|PQ[a-z]"),
    ("Arrow compute kernels", r"arrow::compute|_compute\."),
    ("Python start-up and imports", r"_find_and_load|<module>|importlib|_compile_bytecode"),
    ("memory (alloc, free, page faults)", r"mi_|malloc|free|madvise|mmap|memcpy|memmove"),
]
# A sample whose stack waits on a lock, a queue or a socket is a thread that is not working
# (py-spy counts threads blocked in C code as active).
WAITS = (
    r"PyThread_acquire_lock|Condition\.wait|SimpleQueue_get|Queue\.get|Event\.wait"
    r"|pthread_cond|futex|epoll_wait|\bpoll \(|\bselect \(|\brecv \(|nanosleep"
)


def flows_for(workload: str, rows: int, out: Path, pg: PgTarget | None) -> dict | None:
    """The flow the benchmark runs for ``workload``, writing under ``out``."""
    ds = gen.ensure(rows, ("parquet", "csv") if workload == "csv_to_parquet" else ("parquet",))
    parquet_store = {"type": "parquet", "path": str(out), "mode": "replace"}
    if workload == "parquet_to_parquet":
        return {"home": {"type": "parquet", "path": str(ds.parquet)}, "store": parquet_store}
    if workload == "csv_to_parquet":
        return {"home": {"type": "csv", "path": str(ds.csv)}, "store": parquet_store}
    if pg is None:
        return None
    if workload == "pg_to_parquet":
        ds = gen.ensure(rows, ("parquet", "pg"), pg.libpq)
        home = {"type": "sql", "url": pg.sqlalchemy, "table": ds.pg_table}
        return {"home": home, "store": parquet_store}
    if workload == "parquet_to_pg":
        store = {
            "type": "sql",
            "url": pg.sqlalchemy,
            "table": "bench_out_profile",
            "mode": "replace",
        }
        return {"home": {"type": "parquet", "path": str(ds.parquet)}, "store": store}
    return None


def summarize(raw: Path, title: str, wall_s: float, cpu_s: float) -> str:
    """A markdown summary of py-spy's collapsed stacks."""
    stacks: list[tuple[list[str], int]] = []
    for line in raw.read_text().splitlines():
        head, _, count = line.rpartition(" ")
        if head and count.isdigit():
            stacks.append((head.split(";"), int(count)))
    total = sum(c for _, c in stacks) or 1
    threads: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    stages: collections.Counter[str] = collections.Counter()
    idle = 0
    for frames, count in stacks:
        threads[frames[0]] += count
        if any(re.search(WAITS, f) for f in frames[-4:]):
            idle += count
            continue
        leaves[_name(frames[-1])] += count
        stages[_stage(frames[1:])] += count
    busy = total - idle
    lines = [
        f"## {title}",
        "",
        f"Wall {wall_s:.2f} s, CPU {cpu_s:.2f} s (user+system, process tree). "
        f"{total} samples over all threads at 100 Hz; {idle} waiting (locks, queues, "
        f"sockets), {busy} working. Shares below are of the working samples. py-spy samples "
        "wall time: on a machine shared with other jobs a thread waiting for a core counts as "
        "working in whatever function it was preempted, so small shares are noise; check a "
        "suspect with a CPU-time micro-benchmark before acting on it.",
        "",
        "| stage (busy samples) | share |",
        "|---|--:|",
    ]
    lines += [f"| {k} | {100 * v / max(busy, 1):.1f}% |" for k, v in stages.most_common()]
    lines += ["", "| function holding the sample (busy) | share |", "|---|--:|"]
    lines += [f"| `{k[:90]}` | {100 * v / max(busy, 1):.1f}% |" for k, v in leaves.most_common(15)]
    lines += ["", "| thread | samples |", "|---|--:|"]
    lines += [f"| {k[:60]} | {v} |" for k, v in threads.most_common(8)]
    return "\n".join(lines) + "\n"


def _stage(frames: list[str]) -> str:
    for frame in reversed(frames):
        for label, pattern in STAGES:
            if re.search(pattern, frame):
                return label
    return "other (Python and unresolved native frames)"


def _name(frame: str) -> str:
    return re.sub(r"\s*\((?:[^()]*/)?([^()/]*)\)$", r" (\1)", frame)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument(
        "--only", default="parquet_to_parquet,csv_to_parquet,pg_to_parquet,parquet_to_pg"
    )
    parser.add_argument("--pg-dsn", default=None)
    parser.add_argument(
        "--summarize-only", action="store_true", help="rewrite the summaries from kept .raw files"
    )
    args = parser.parse_args()
    if args.summarize_only:
        for workload in args.only.split(","):
            raw = DATA_DIR / "profile" / workload / "profile.raw"
            if raw.exists():
                info = json.loads(raw.with_suffix(".json").read_text())
                page = summarize(raw, info["title"], info["wall_s"], info["cpu_s"])
                (PROFILE_DIR / f"{workload}.md").write_text(page)
        return 0
    hygge = hygge_cli()
    spy = Path(sys.executable).parent / "py-spy"
    if hygge is None or not spy.exists():
        print("needs .venv/bin/hygge and py-spy (.venv/bin/pip install py-spy)", file=sys.stderr)
        return 2
    dsn = args.pg_dsn or gen.pg_dsn_from_env()
    pg = PgTarget.parse(dsn) if dsn else None
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    work = DATA_DIR / "profile"
    for workload in args.only.split(","):
        out = work / workload / "out"
        flow = flows_for(workload, args.rows, out, pg)
        if flow is None:
            print(f"{workload}: skipped (no PostgreSQL)", file=sys.stderr)
            continue
        flows = work / workload / "flows.yaml"
        flows.parent.mkdir(parents=True, exist_ok=True)
        flows.write_text(yaml.safe_dump({"flows": {"bench": flow}}, sort_keys=False))
        raw = work / workload / "profile.raw"
        before = os.times()
        t0 = time.perf_counter()
        subprocess.run(
            [str(spy), *SPY_ARGS, "--output", str(raw), "--", str(hygge), "run", str(flows)],
            check=True,
            capture_output=True,
        )
        wall = time.perf_counter() - t0
        after = os.times()
        # py-spy's own CPU is in the children's figure too; it samples at 100 Hz (small).
        cpu = (after.children_user - before.children_user) + (
            after.children_system - before.children_system
        )
        title = f"{workload}, {args.rows:,} rows (hygge run under py-spy)"
        info = {"title": title, "wall_s": wall, "cpu_s": cpu}
        raw.with_suffix(".json").write_text(json.dumps(info) + "\n")
        page = summarize(raw, title, wall, cpu)
        (PROFILE_DIR / f"{workload}.md").write_text(page)
        print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
