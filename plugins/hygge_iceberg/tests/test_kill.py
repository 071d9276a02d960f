"""The Iceberg kill loop: SIGKILL `hygge run` at random instants, rerun, check the table.

HYGGE_KILL_POINTS (default 2 in the everyday suite, 50 under scripts/stress.sh) kill points
per mode. After each kill and a clean rerun the table must equal the source exactly, every
`hygge-*` data file of the flow must be referenced by a snapshot, and no run marker or
staging may be left.
"""

from __future__ import annotations

import pathlib
import random
import subprocess
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from pyiceberg.catalog.sql import SqlCatalog

from hygge_core.testing import Kill, kill_points, run_hygge

POINTS = kill_points(default=2)
ROWS = 60_000


def source() -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "p": [f"p{i % 4}" for i in range(ROWS)],
            "v": pa.array(range(ROWS)).cast(pa.float64()),
        }
    )


def flows(tmp: pathlib.Path, wh: pathlib.Path, mode: str) -> pathlib.Path:
    src = tmp / "src.parquet"
    if not src.exists():
        pq.write_table(source(), src, row_group_size=ROWS // 6)
    home: dict = {"type": "parquet", "path": str(src), "unit_rows": ROWS // 6}
    store: dict = {
        "type": "iceberg",
        "warehouse": str(wh),
        "table": "lake.t",
        "mode": mode,
        "partition_by": ["p"],
    }
    if mode == "append":
        home["incremental"] = {"cursor": "id"}  # append is exactly-once with a cursor
    if mode == "merge":
        store["keys"] = ["id"]
    path = tmp / f"flows-{mode}-{wh.name}.yaml"
    path.write_text(yaml.safe_dump({"flows": {"f": {"home": home, "store": store}}}))
    return path


def hygge(path: pathlib.Path, kill_after: float | None = None) -> subprocess.CompletedProcess:
    """`hygge run PATH`, SIGKILLed `kill_after` seconds after it started (when given)."""
    kill = Kill(delay=kill_after) if kill_after is not None else None
    return run_hygge("run", str(path), kill=kill, timeout=300)


@pytest.mark.parametrize("mode", ["append", "replace", "merge"])
def test_kill_anywhere_then_rerun_converges(tmp_path: pathlib.Path, mode: str) -> None:
    rng = random.Random(f"iceberg-{mode}")
    started = time.monotonic()
    assert hygge(flows(tmp_path, tmp_path / "clean", mode)).returncode == 0
    seconds = time.monotonic() - started
    expected = source()
    for k in range(POINTS):
        wh = tmp_path / f"wh{k}"
        path = flows(tmp_path, wh, mode)
        delay = rng.uniform(0.0, seconds)
        killed = hygge(path, kill_after=delay)
        rerun = hygge(path)
        where = f"mode {mode}, SIGKILL after {delay:.3f}s (killed run exit {killed.returncode})"
        assert rerun.returncode == 0, f"{where}: rerun failed\n{rerun.stdout}\n{rerun.stderr}"
        catalog = SqlCatalog("hygge", uri=f"sqlite:///{wh}/catalog.db", warehouse=f"file://{wh}")
        table = catalog.load_table("lake.t")
        got = table.scan().to_arrow().cast(expected.schema).sort_by("id")
        assert got.equals(expected), f"{where}: {got.num_rows} rows instead of {ROWS}"
        referenced = set()
        for snapshot in table.metadata.snapshots:
            for manifest in snapshot.manifests(table.io):
                for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
                    referenced.add(entry.data_file.file_path.removeprefix("file://"))
        files = {str(p) for p in wh.rglob("hygge-*.parquet")}
        assert files <= referenced, f"{where}: orphaned files {sorted(files - referenced)[:3]}"
        assert not list(wh.rglob("runs/*.json")), f"{where}: run marker left"
        assert not list(wh.rglob("_hygge_staging/**/*.parquet")), f"{where}: staging left"
