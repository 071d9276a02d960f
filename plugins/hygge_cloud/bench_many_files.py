"""Benchmark: a Parquet home over a cloud prefix of many small files, read to local disk.

Standalone (the bench harness calls it as a program): it fills an S3-compatible bucket with
`--files` small Parquet files (once; reused while they are there), runs `hygge run` over the
prefix in a subprocess, checks every row landed, and prints one JSON object:

    {"files": 2000, "rows": 1000000, "seconds": 9.8, "peak_rss_mb": 210.4,
     "rows_per_s": 102040, "baseline_seconds": 4.1, ...}

`home_seconds` is hygge's Parquet home alone, in this process (list, footers on 16 threads,
every unit read on 16 threads, nothing written); `baseline_seconds` is the provider's own
client doing the same read with no hygge in between (s3fs listing, concurrent GETs, pyarrow
decoding). Their ratio is what hygge's read path costs over the bare client.

    python plugins/hygge_cloud/bench_many_files.py --endpoint http://127.0.0.1:25000 \\
        [--files 2000] [--rows 500] [--bucket hygge-bench-many] [--json out.json]

The endpoint defaults to $HYGGE_TEST_S3_ENDPOINT (moto from scripts/services.py); keys
default to AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, else moto's `testing`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

# Runs hygge and reports its peak RSS: a fresh, small process, so the figure is hygge's.
_MEASURE = """
import resource, subprocess, sys, time
t = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)
"""


def _table(start: int, rows: int) -> pa.Table:
    ids = pa.array(range(start, start + rows), pa.int64())
    return pa.table(
        {
            "id": ids,
            "amount": pa.array([i * 0.5 for i in range(start, start + rows)], pa.float64()),
            "label": pa.array([f"row-{i}" for i in range(start, start + rows)], pa.string()),
        }
    )


def _parquet(start: int, rows: int) -> bytes:
    sink = io.BytesIO()
    pq.write_table(_table(start, rows), sink)
    return sink.getvalue()


def fill(fs: Any, bucket: str, prefix: str, files: int, rows: int) -> None:
    """Upload `files` Parquet objects under `bucket/prefix/` unless they are all there."""
    if not fs.exists(bucket):
        fs.mkdir(bucket)
    path = f"{bucket}/{prefix}"
    if fs.exists(path) and len(fs.find(path)) == files:
        return
    if fs.exists(path):
        fs.rm(path, recursive=True)
    batch = 200
    for first in range(0, files, batch):
        with ThreadPoolExecutor(8) as pool:
            blobs = list(
                pool.map(
                    lambda i: _parquet(i * rows, rows), range(first, min(files, first + batch))
                )
            )
        # One bulk call: s3fs sends them concurrently.
        fs.pipe({f"{path}/part-{first + i:06d}.parquet": b for i, b in enumerate(blobs)})


def baseline(fs: Any, bucket: str, prefix: str) -> tuple[float, int]:
    """The provider's client alone: list, fetch every object concurrently, decode."""
    started = time.perf_counter()
    paths = fs.find(f"{bucket}/{prefix}")
    rows = 0
    for first in range(0, len(paths), 500):
        blobs = fs.cat(paths[first : first + 500])
        rows += sum(pq.read_table(io.BytesIO(b)).num_rows for b in blobs.values())
    return time.perf_counter() - started, rows


def home_only(endpoint: str, key: str, secret: str, bucket: str, prefix: str) -> tuple[float, int]:
    """hygge's Parquet home over the prefix, read on 16 threads with no store: seconds, rows."""
    from hygge_core.context import FlowContext
    from hygge_core.plugins import load_registry
    from hygge_core.storage import StorageResolver

    registry = load_registry()
    connections = {"lake": {"type": "s3", "endpoint_url": endpoint, "key": key, "secret": secret}}
    context = FlowContext("bench", "bench", StorageResolver(registry.storages, connections))
    cls = registry.homes["parquet"]
    config = {"type": "parquet", "path": f"s3://{bucket}/{prefix}/", "connection": "lake"}
    started = time.perf_counter()
    home = cls(cls.config_model.model_validate(config), context)
    home.schema()
    units = home.plan(None)
    with ThreadPoolExecutor(16) as pool:
        rows = sum(pool.map(lambda u: sum(b.num_rows for b in home.read(u)), units))
    return time.perf_counter() - started, rows


def run_hygge(
    endpoint: str, key: str, secret: str, bucket: str, prefix: str, parallelism: int | None
) -> dict[str, Any]:
    """`hygge run` over the prefix into a temp folder; time, peak RSS, rows landed."""
    hygge = str(pathlib.Path(sys.executable).parent / "hygge")
    with tempfile.TemporaryDirectory(prefix="hygge-bench-many-") as tmp:
        doc = {
            "connections": {
                "lake": {
                    "type": "s3",
                    "endpoint_url": endpoint,
                    "key": key,
                    "secret": secret,
                    "region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                }
            },
            "flows": {
                "many": {
                    "home": {
                        "type": "parquet",
                        "path": f"s3://{bucket}/{prefix}/",
                        "connection": "lake",
                    },
                    "store": {"type": "parquet", "path": f"{tmp}/out", "mode": "replace"},
                    **({"parallelism": parallelism} if parallelism else {}),
                }
            },
        }
        flows = pathlib.Path(tmp, "flows.yaml")
        flows.write_text(yaml.safe_dump(doc))
        proc = subprocess.run(
            [sys.executable, "-c", _MEASURE, hygge, "run", str(flows)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise SystemExit(f"hygge run failed ({proc.returncode}):\n{proc.stderr}")
        seconds, rss_kib = proc.stdout.split()
        rows = pq.read_table(f"{tmp}/out").num_rows
    return {"seconds": float(seconds), "peak_rss_mb": int(rss_kib) / 1024, "rows_landed": rows}


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, fill the bucket, measure, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default=os.environ.get("HYGGE_TEST_S3_ENDPOINT"))
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=500, help="rows per file")
    parser.add_argument("--bucket", default="hygge-bench-many")
    parser.add_argument("--json", help="also write the result to this file")
    parser.add_argument(
        "--parallelism", type=int, default=None, help="the flow's parallelism (default: cores)"
    )
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args(argv)
    if not args.endpoint:
        raise SystemExit("give --endpoint or set HYGGE_TEST_S3_ENDPOINT")
    import s3fs

    key = os.environ.get("AWS_ACCESS_KEY_ID", "testing")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "testing")
    fs = s3fs.S3FileSystem(key=key, secret=secret, endpoint_url=args.endpoint)
    prefix = f"many-{args.files}x{args.rows}"
    started = time.perf_counter()
    fill(fs, args.bucket, prefix, args.files, args.rows)
    result: dict[str, Any] = {
        "parallelism": args.parallelism,
        "files": args.files,
        "rows": args.files * args.rows,
        "fill_seconds": round(time.perf_counter() - started, 2),
    }
    measured = run_hygge(args.endpoint, key, secret, args.bucket, prefix, args.parallelism)
    if measured["rows_landed"] != result["rows"]:
        raise SystemExit(f"{measured['rows_landed']} rows landed, {result['rows']} expected")
    result.update(
        seconds=round(measured["seconds"], 2),
        peak_rss_mb=round(measured["peak_rss_mb"], 1),
        rows_per_s=round(result["rows"] / measured["seconds"]),
        files_per_s=round(args.files / measured["seconds"], 1),
    )
    if not args.no_baseline:
        seconds, rows = home_only(args.endpoint, key, secret, args.bucket, prefix)
        assert rows == result["rows"], rows
        result["home_seconds"] = round(seconds, 2)
        seconds, rows = baseline(fs, args.bucket, prefix)
        assert rows == result["rows"], rows
        result["baseline_seconds"] = round(seconds, 2)
    text = json.dumps(result)
    print(text)
    if args.json:
        pathlib.Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
