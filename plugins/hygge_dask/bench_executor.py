"""Compare the Dask executor with the local one on the same Parquet → Parquet flow.

    .venv/bin/python plugins/hygge_dask/bench_executor.py                 # LocalCluster
    .venv/bin/python plugins/hygge_dask/bench_executor.py --scheduler tcp://127.0.0.1:8786

Writes a Parquet home (`--files` files of `--rows` rows), then runs the same flows.yaml with
`executor: local` and `executor: dask`, `--repeat` times each, alternating, and prints the
best and median wall time of each plus one JSON line. Every run's store is checked to hold
exactly the home's rows. The cluster is started once, outside the timings (its start-up
time is printed separately), so the figures compare moving data, not booting Dask.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import shutil
import statistics
import tempfile
import time
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from hygge_core.api import run_file


def write_home(folder: pathlib.Path, files: int, rows: int) -> None:
    """`files` files of `rows` rows: an id, a float, a timestamp and a short string."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        ids = pa.array(range(f * rows, (f + 1) * rows), pa.int64())
        table = pa.table(
            {
                "id": ids,
                "amount": pc.multiply(pc.cast(ids, pa.float64()), 0.25),
                "at": pc.cast(pc.multiply(ids, 1_000_000), pa.timestamp("us", tz="UTC")),
                "label": pc.binary_join_element_wise("row-", pc.cast(ids, pa.string()), ""),
            }
        )
        pq.write_table(table, folder / f"part-{f:04d}.parquet", row_group_size=250_000)


def run_once(root: pathlib.Path, executor: dict[str, Any], expect: int, tag: str) -> float:
    """One `hygge run` of the flow with `executor`; its wall time in seconds."""
    lake = root / f"lake-{tag}"
    shutil.rmtree(lake, ignore_errors=True)
    flows = {
        "executor": executor,
        "flows": {
            "copy": {
                "home": {"type": "parquet", "path": str(root / "home")},
                "store": {"type": "parquet", "path": str(lake), "mode": "replace"},
            }
        },
    }
    path = root / f"flows-{tag}.yaml"
    path.write_text(yaml.safe_dump(flows))
    started = time.perf_counter()
    (result,) = run_file(str(path))
    seconds = time.perf_counter() - started
    if result.status != "ok":
        raise SystemExit(f"{tag}: {result.error}")
    rows = pq.ParquetDataset(lake).read(columns=["id"]).num_rows
    if rows != expect or result.rows != expect:
        raise SystemExit(f"{tag}: store holds {rows} rows, expected {expect}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=32)
    parser.add_argument("--rows", type=int, default=500_000, help="rows per file")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scheduler", help="an existing scheduler; default: a LocalCluster")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=1, help="threads per worker")
    parser.add_argument("--dir", help="working directory (default: a temporary one)")
    args = parser.parse_args()

    root = pathlib.Path(args.dir or tempfile.mkdtemp(prefix="hygge-bench-dask-"))
    expect = args.files * args.rows
    if not (root / "home").exists():
        write_home(root / "home", args.files, args.rows)
    size = sum(p.stat().st_size for p in (root / "home").glob("*.parquet"))

    cluster = None
    address = args.scheduler
    boot = 0.0
    if address is None:
        from distributed import LocalCluster

        started = time.perf_counter()
        cluster = LocalCluster(
            n_workers=args.workers,
            threads_per_worker=args.threads,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            worker_dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        )
        address = cluster.scheduler_address
        boot = time.perf_counter() - started
    try:
        timings: dict[str, list[float]] = {"local": [], "dask": []}
        executors = {"local": {"type": "local"}, "dask": {"type": "dask", "address": address}}
        run_once(root, executors["dask"], expect, "warmup")  # workers import pyarrow once
        for _ in range(args.repeat):
            for name, spec in executors.items():
                timings[name].append(run_once(root, spec, expect, name))
    finally:
        if cluster is not None:
            cluster.close()
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)

    print(
        f"Parquet → Parquet, {args.files} files, {expect:,} rows, {size / 2**20:.0f} MiB "
        f"on disk; {os.cpu_count()} cores; dask: "
        + (f"scheduler {args.scheduler}" if args.scheduler else f"LocalCluster {args.workers}")
        + (f"x{args.threads} (started in {boot:.2f}s)" if cluster is not None else "")
    )
    summary: dict[str, Any] = {"files": args.files, "rows": expect, "bytes": size}
    for name, values in timings.items():
        best, median = min(values), statistics.median(values)
        print(
            f"  {name:5}  best {best:6.2f}s  median {median:6.2f}s  {expect / best:>12,.0f} rows/s"
        )
        summary[name] = {"best": round(best, 3), "median": round(median, 3)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
