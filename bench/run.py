"""Run the hygge benchmark: every workload's programs as whole processes, side by side.

For each selected workload the harness makes sure the data exists (``gen.py``), builds the
entries (hygge, reference programs, peers), then runs them interleaved — run 1 of every entry,
then run 2, ... — so that slow drift of the machine (page cache, PostgreSQL checkpoints, thermal)
spreads over all programs instead of favouring one. Before each run the entry's previous output
is removed; after it, the output is verified (row count and content checksum). Results go to
``bench/results/<date>-<host>.md`` and ``bench/results/latest.md`` (plus a ``.json`` of every run).

Examples::

    python bench/run.py                      # everything, 5,000,000 rows, 5 runs
    python bench/run.py --rows 1000000 --only pg_to_parquet,parquet_to_pg
    python bench/run.py --quick              # 100,000 rows, 1 run, no peers: a smoke test
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import os
import shutil
import socket
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen
import report
import shapes
import verify
from measure import machine_busy_s, parent_pid, run_measured, server_cpu_s
from peers import ensure_peer
from schema import DATA_DIR, RESULTS_DIR
from workloads import (
    WORK_DIR,
    WORKLOADS,
    Context,
    DeltaOutput,
    Entry,
    IcebergOutput,
    ParquetOutput,
    PgOutput,
    PgTarget,
    clear,
    hygge_cli,
    quote_ident,
)

LOG_DIR = DATA_DIR / "logs"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


class Pg:
    """A lazily opened autocommit connection for housekeeping (drops, checkpoints, sizes)."""

    def __init__(self, target: PgTarget) -> None:
        self.target = target
        self._conn = None

    def execute(self, sql: str) -> list[tuple]:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.target.libpq, autocommit=True, connect_timeout=10)
        cur = self._conn.execute(sql)
        return cur.fetchall() if cur.description else []

    def server_pid(self) -> int | None:
        """PID of the postmaster when the server runs on this machine (else None)."""
        try:
            rows = self.execute(
                "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'"
            )
        except Exception:
            return None
        if not rows:
            return None
        pid = parent_pid(int(rows[0][0]))
        return pid if pid and server_cpu_s(pid) is not None else None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def check_pg(dsn: str | None) -> tuple[PgTarget | None, str]:
    """Parse and try the DSN; PostgreSQL workloads are skipped (with the reason) if it fails."""
    if not dsn:
        return None, "no DSN (set HYGGE_BENCH_PG_DSN or HYGGE_TEST_PG_DSN)"
    try:
        import psycopg

        target = PgTarget.parse(dsn)
        with psycopg.connect(target.libpq, connect_timeout=5):
            pass
        return target, ""
    except Exception as exc:  # any failure means: no PostgreSQL for this run
        return None, f"cannot connect: {exc}"


def output_size_mb(entry: Entry, pg: Pg | None) -> float | None:
    """Size of what the run wrote: Parquet bytes on disk, or the table's total relation size."""
    if isinstance(entry.output, ParquetOutput):
        return sum(f.stat().st_size for f in verify.parquet_files(entry.output.path)) / 1e6
    if isinstance(entry.output, DeltaOutput | IcebergOutput):
        return sum(f.stat().st_size for f in entry.output.path.rglob("*.parquet")) / 1e6
    if isinstance(entry.output, PgOutput) and pg is not None:
        try:
            table = quote_ident(entry.output.table)
            rows = pg.execute(f"SELECT pg_total_relation_size('{table}')")
            return rows[0][0] / 1e6 if rows and rows[0][0] is not None else None
        except Exception:
            return None
    return None


def check_output(entry: Entry, pg_target: PgTarget | None) -> str:
    """Empty string if the output holds exactly the expected rows, else what is wrong."""
    if entry.output is None or entry.expected_rows is None:
        return ""
    try:
        if isinstance(entry.output, ParquetOutput):
            got = verify.digest_parquet(entry.output.path, entry.columns or verify.COLUMNS)
        elif isinstance(entry.output, DeltaOutput):
            got = verify.digest_delta(entry.output.path, entry.columns or verify.COLUMNS)
        elif isinstance(entry.output, IcebergOutput):
            got = verify.digest_iceberg(entry.output.path, entry.columns or verify.COLUMNS)
        else:
            assert pg_target is not None
            got = verify.digest_pg(pg_target.libpq, entry.output.table)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        return f"output unreadable: {type(exc).__name__}: {first}"
    want = verify.Digest(entry.expected_rows, entry.expected_checksum or "")
    if got.rows != want.rows:
        return f"wrong output: {got.rows:,} rows, expected {want.rows:,}"
    if got.checksum != want.checksum:
        return f"wrong output: checksum {got.checksum}, expected {want.checksum}"
    return entry.check() if entry.check else ""


def last_line(path: Path) -> str:
    """The last non-empty line of a log, for the failure note in the table."""
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:200].replace("|", "/") if lines else ""


def wait_for_quiet(max_wait_s: float, threshold_cores: float = 0.3) -> float:
    """Wait up to ``max_wait_s`` until the rest of the machine uses under ``threshold_cores``.

    Sampled over 1 s while the harness itself is idle, so whatever is busy belongs to others
    (other users' test runs on a shared machine). Returns the seconds waited.
    """
    waited = 0.0
    while waited < max_wait_s:
        before = machine_busy_s()
        time.sleep(1.0)
        after = machine_busy_s()
        waited += 1.0
        if before is None or after is None or after - before < threshold_cores:
            break
    return waited


def execute(
    entries: list[Entry],
    runs: int,
    timeout_s: float,
    verify_runs: str,
    pg: Pg | None,
    pg_target: PgTarget | None,
    wait_idle_s: float = 0.0,
) -> list[report.Summary]:
    """Run every available entry ``runs`` times (interleaved) and verify each output."""
    summaries = [report.Summary(e) for e in entries]
    server_pid = pg.server_pid() if pg else None
    rounds = max((e.runs or runs for e in entries), default=0)
    for i in range(rounds):
        for s in summaries:
            e = s.entry
            n = e.runs or runs
            if e.unavailable or not e.argv or i >= n:
                continue
            if s.runs and not s.runs[-1].ok:
                continue  # a failed entry is not retried: its status is already decided
            clear(e, pg.execute if pg else None)
            run_log = LOG_DIR / e.workload / f"{e.slug}-run{i + 1}.log"
            env = {**os.environ, **e.env}
            if wait_idle_s > 0:
                waited = wait_for_quiet(wait_idle_s)
                if waited >= wait_idle_s:
                    log(f"machine still busy after waiting {waited:.0f} s; running anyway")
            busy0 = machine_busy_s()
            server0 = server_cpu_s(server_pid) if server_pid else None
            m = run_measured(e.argv, run_log, env=env, cwd=e.cwd, timeout_s=timeout_s)
            busy1 = machine_busy_s()
            server1 = server_cpu_s(server_pid) if server_pid else None
            result = report.RunResult(m.wall_s, m.cpu_s, m.peak_rss_mb, m.ok)
            server_s = server1 - server0 if server0 is not None and server1 is not None else 0.0
            if isinstance(e.output, PgOutput) or e.workload.startswith("pg_"):
                result.server_cpu_s = server_s
            if busy0 is not None and busy1 is not None:
                # What the rest of the machine did meanwhile (other users' jobs): a noise gauge.
                result.other_cpu_s = max(0.0, busy1 - busy0 - m.cpu_s - server_s)
            if m.timed_out:
                result.error = f"timed out after {timeout_s:.0f} s (log: {run_log})"
            elif not m.ok:
                result.error = f"exit {m.returncode}: {last_line(run_log)} (log: {run_log})"
            else:
                result.output_mb = output_size_mb(e, pg)
                if verify_runs == "all" or i == 0:
                    problem = check_output(e, pg_target)
                    if problem:
                        result.ok, result.error = False, problem
            s.runs.append(result)
            status = "ok" if result.ok else f"FAILED: {result.error}"
            log(
                f"{e.workload} | {e.name} | run {i + 1}/{n} | {m.wall_s:.2f} s | "
                f"{m.peak_rss_mb:.0f} MB | cpu {m.cpu_s:.2f} s | {status}"
            )
    return summaries


def prevalidate(entry: Entry) -> None:
    """Mark a hygge flow "not available" when ``hygge validate`` rejects it (e.g. a type that no
    installed plugin provides yet), so that a missing feature reads differently from a failure."""
    if entry.kind != "hygge" or entry.unavailable or len(entry.argv) < 3 or entry.argv[1] != "run":
        return
    import subprocess

    try:
        res = subprocess.run(
            [entry.argv[0], "validate", entry.argv[2]],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=entry.cwd,
        )
    except subprocess.TimeoutExpired:
        entry.unavailable = "hygge validate timed out"
        return
    if res.returncode != 0:
        lines = [ln.strip() for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
        # "path:line:col: flow 'bench' → home → field 'type': unknown home type 'csv'" → the message
        first = lines[0].split(": ", 1)[-1] if lines else f"exit {res.returncode}"
        hint = next((ln for ln in lines if ln.startswith("hint:")), "")
        entry.unavailable = f"hygge validate: {first}" + (f" ({hint})" if hint else "")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Benchmark hygge against reference programs and peers.")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        help=f"workload(s) to run, comma-separated or repeated; from: {', '.join(WORKLOADS)}",
    )
    p.add_argument(
        "--rows", type=int, help="rows of the benchmark table (default 5,000,000; --quick: 100,000)"
    )
    p.add_argument(
        "--runs", type=int, help="runs per program, median reported (default 5; --quick: 1)"
    )
    p.add_argument("--quick", action="store_true", help="smoke test: small data, one run, no peers")
    p.add_argument(
        "--peers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run dlt and ingestr (default: yes, except with --quick)",
    )
    p.add_argument(
        "--peer-rows",
        type=int,
        help="rows for the peers (default: --rows, at most 1,000,000: dlt needs minutes per "
        "million rows); ratios then compare rows/s",
    )
    p.add_argument("--peer-runs", type=int, help="runs for the peers (default: --runs, at most 3)")
    p.add_argument(
        "--scaling-rows",
        type=int,
        help="1x size of rss_scaling (default 2,000,000; --quick: 100,000)",
    )
    p.add_argument(
        "--scales", default="1,4,10", help="multipliers for rss_scaling (default 1,4,10)"
    )
    p.add_argument(
        "--startup-runs", type=int, help="runs of the start-up programs (default max(10, --runs))"
    )
    p.add_argument(
        "--pg-dsn",
        help="PostgreSQL DSN (default $HYGGE_BENCH_PG_DSN, $HYGGE_TEST_PG_DSN, "
        "or /tmp/hygge-services/services.env)",
    )
    p.add_argument(
        "--timeout", type=float, default=900, help="seconds before one run is killed (default 900)"
    )
    p.add_argument(
        "--verify",
        choices=["all", "first"],
        default="all",
        help="check every run's output (default) or only each program's first",
    )
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each run, wait up to SECONDS for other processes to go quiet",
    )
    p.add_argument(
        "--scaling-runs",
        type=int,
        help="runs of each rss_scaling program (default: min(3, --runs); they are long)",
    )
    p.add_argument(
        "--render",
        metavar="RESULTS_JSON",
        help="only rebuild the Markdown page of an earlier run from its .json, then exit",
    )
    p.add_argument(
        "--keep-outputs", action="store_true", help="leave the last outputs under bench/.data/work"
    )
    p.add_argument(
        "--no-save",
        action="store_true",
        help="print the Markdown instead of writing bench/results/",
    )
    return p.parse_args()


def rerender(json_path: Path) -> str:
    """The results page of an earlier run, rebuilt from its ``.json`` (after report changes)."""
    raw = json.loads(json_path.read_text())
    summaries = []
    for d in raw["entries"]:
        entry = Entry(d["workload"], d["name"], d["kind"], d["rows"])
        if d["status"] == "n/a":
            entry.unavailable = d["reason"]
        # Files written before the flag was saved: dlt's default configuration by its name.
        entry.dlt_default = d.get(
            "dlt_default",
            d["name"].startswith("dlt")
            and ("pyarrow backend" in d["name"] or "defaults" in d["name"]),
        )
        runs = [report.RunResult(**r) for r in d["runs"]]
        summaries.append(report.Summary(entry, runs))
    main_rows = raw.get("rows") or max(
        (
            s.entry.rows
            for s in summaries
            if s.entry.kind == "reference" and s.entry.workload != "rss_scaling"
        ),
        default=0,
    )
    machine = [tuple(row) for row in raw["machine"]]
    return report.render(raw["header"], machine, summaries, main_rows)


LOCK_PATH = DATA_DIR / "run.lock"


def only_run() -> IO[str] | None:
    """An exclusive lock held while this process lives (the kernel drops it when the process
    ends, even killed), or None when another run holds it."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    handle = LOCK_PATH.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def main() -> int:
    """Entry point; returns 0 unless a program that should work failed or gave a wrong answer."""
    args = parse_args()
    if args.render:
        page = rerender(Path(args.render))
        Path(args.render).with_suffix(".md").write_text(page)
        log(f"rewrote {Path(args.render).with_suffix('.md')}")
        return 0
    rows = args.rows or (100_000 if args.quick else 5_000_000)
    runs = args.runs or (1 if args.quick else 5)
    peers_on = args.peers if args.peers is not None else not args.quick
    selected = [w.strip() for spec in args.only for w in spec.split(",") if w.strip()] or list(
        WORKLOADS
    )
    unknown = [w for w in selected if w not in WORKLOADS]
    if unknown:
        log(f"unknown workload(s) {unknown}; choose from {', '.join(WORKLOADS)}")
        return 2
    lock = only_run()
    if lock is None:
        log(f"another bench/run.py is running (it holds {LOCK_PATH}): runs share the data,")
        log("the outputs and the machine's cores; wait for it to finish")
        return 2
    started = time.perf_counter()

    pg_target, pg_problem = check_pg(args.pg_dsn or gen.pg_dsn_from_env())
    if pg_problem:
        log(f"PostgreSQL workloads skipped: {pg_problem}")
    dsn = pg_target.libpq if pg_target else None
    formats = tuple(sorted({f for w in selected for f in WORKLOADS[w].formats}))
    data = gen.ensure(rows, formats, dsn)
    # Peers are slow (dlt's default Parquet→PostgreSQL load: ~2 min per million rows here), so
    # by default they run on at most 1M rows, at most 3 times; the page marks them with †.
    peer_rows = args.peer_rows or min(rows, 1_000_000)
    peer_runs = args.peer_runs or min(runs, 3)
    peer_formats = tuple(
        sorted({f for w in selected if WORKLOADS[w].peers for f in WORKLOADS[w].formats})
    )
    peer_data = (
        gen.ensure(peer_rows, peer_formats or ("parquet",), dsn) if peer_rows != rows else data
    )
    scaling = []
    if "rss_scaling" in selected or "memory_budget" in selected:
        # 2M rows = two 1M-row row groups = two work units: already at 1x both cores run a
        # unit each, so the series shows memory against data size, not against parallelism
        # (with 1M rows hygge runs one unit on one core and its peak is lower for that alone).
        base = args.scaling_rows or (100_000 if args.quick else 2_000_000)
        scaled = ("parquet", "csv") if "memory_budget" in selected else ("parquet",)
        scaling = [gen.ensure(base * int(s), scaled) for s in args.scales.split(",")]

    shape_data = {}
    for w in selected:
        if w.startswith("shape_"):
            ds = shapes.ensure(shapes.SHAPES[w.removeprefix("shape_")], rows)
            shape_data[w.removeprefix("shape_")] = (ds, shapes.columns(ds))

    peers = {}
    if peers_on:
        for name in sorted({p for w in selected for p in WORKLOADS[w].peers}):
            peers[name] = ensure_peer(name, LOG_DIR / f"venv-{name}.log")
            if peers[name].error:
                log(f"peer {name} not available: {peers[name].error}")

    hygge = hygge_cli()
    if hygge is None:
        log("hygge CLI not installed yet: hygge rows will say 'not available'")
    ctx = Context(
        rows=rows,
        data=data,
        peer_data=peer_data,
        python=sys.executable,
        hygge=hygge,
        pg=pg_target,
        peers=peers,
        peer_runs=peer_runs,
        scaling=scaling,
        shapes=shape_data,
    )
    entries = [e for w in selected for e in WORKLOADS[w].build(ctx)]
    for e in entries:
        if e.workload == "startup":
            e.runs = args.startup_runs or max(10, runs)
        if e.workload in ("rss_scaling", "memory_budget"):
            e.runs = args.scaling_runs or min(3, runs)
        if not peers_on and e.kind == "peer":
            e.unavailable = "peers not run (--no-peers / --quick)"
        prevalidate(e)

    machine = report.machine_info(pg_target, peers, hygge)  # before: the source measured
    pg = Pg(pg_target) if pg_target else None
    try:
        summaries = execute(
            entries, runs, args.timeout, args.verify, pg, pg_target, wait_idle_s=args.wait_idle
        )
        if not args.keep_outputs:
            for e in entries:
                clear(e, pg.execute if pg else None)
            shutil.rmtree(WORK_DIR, ignore_errors=True)
    finally:
        if pg:
            pg.close()

    now = dt.datetime.now()
    host = socket.gethostname()
    header = {
        "date": now.strftime("%Y-%m-%d %H:%M"),
        "host": host,
        "Command": "`python bench/run.py " + " ".join(sys.argv[1:]) + "`",
        "Table": f"{rows:,} rows x 9 columns"
        + (f" (peers: {peer_rows:,} rows)" if peer_rows != rows else "")
        + "".join(
            f"; shape {name}: {ds.rows:,} rows x {len(cols)} columns"
            for name, (ds, cols) in shape_data.items()
        ),
        "Runs": f"{runs} per program (peers: {peer_runs}), median reported; "
        f"outputs verified: {args.verify} runs",
        "Bench duration": f"{(time.perf_counter() - started) / 60:.1f} min",
    }
    page = report.render(header, machine, summaries, rows)
    if args.no_save:
        print(page)
    else:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        stem = f"{now:%Y-%m-%d}-{host}"
        if (RESULTS_DIR / f"{stem}.md").exists():
            stem += f"-{now:%H%M}"  # keep an earlier run of the same day
        (RESULTS_DIR / f"{stem}.md").write_text(page)
        (RESULTS_DIR / "latest.md").write_text(page)
        raw = {
            "rows": rows,
            "header": header,
            "machine": machine,
            "entries": [
                {
                    "workload": s.entry.workload,
                    "name": s.entry.name,
                    "kind": s.entry.kind,
                    "rows": s.entry.rows,
                    "dlt_default": s.entry.dlt_default,
                    "status": s.status,
                    "reason": s.reason,
                    "runs": [asdict(r) for r in s.runs],
                }
                for s in summaries
            ],
        }
        (RESULTS_DIR / f"{stem}.json").write_text(json.dumps(raw, indent=1) + "\n")
        log(f"results: {RESULTS_DIR / f'{stem}.md'} (and latest.md)")
    # A peer failing is a finding to report, not a broken benchmark.
    failed = [s for s in summaries if s.status == "FAILED" and s.entry.kind != "peer"]
    for s in failed:
        log(f"FAILED: {s.entry.workload} / {s.entry.name}: {s.reason}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
