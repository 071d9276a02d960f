"""Memory stays bounded on object stores: big files stream, many files do not pile up.

Uploads go out in multipart parts as pyarrow writes (each open file buffers one part);
downloads are read row group by row group. Peak RSS is measured on the real `hygge run`
process; the bounds are far below what holding the data would need.
"""

from __future__ import annotations

import pathlib
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

pytestmark = [pytest.mark.services, pytest.mark.slow]

MB = 1 << 20


def _wide(rows: int, seed: int) -> pa.Table:
    """Incompressible columns, so the Parquet file is as big as the data (32 B a row)."""
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "id": pa.array(np.arange(rows, dtype=np.int64)),
            **{f"x{i}": pa.array(rng.random(rows)) for i in range(3)},
        }
    )


def _flows(tmp_path: pathlib.Path, s3: Any, flows: dict[str, Any]) -> None:
    doc = {"connections": {"lake": s3.connection}, "flows": flows}
    (tmp_path / "flows.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def _up_down(measured: Any, s3: Any, tmp_path: pathlib.Path, rows: int) -> tuple[int, int, int]:
    """Write `rows` to S3 and read them back; return (file bytes, peak RSS up, down)."""
    table = _wide(rows, seed=rows)
    pq.write_table(table, tmp_path / f"big-{rows}.parquet", row_group_size=1_000_000)
    store = s3.url(f"big-{rows}")
    _flows(
        tmp_path,
        s3,
        {
            "up": {
                "home": f"big-{rows}.parquet",
                "store": {"type": "parquet", "path": store, "connection": "lake"},
            },
            "down": {
                "home": {"type": "parquet", "path": store, "connection": "lake"},
                "store": {"type": "parquet", "path": f"back-{rows}/"},
            },
        },
    )
    up, up_rss = measured("run", "flows.yaml", "--flow", "up", cwd=tmp_path)
    assert up.code == 0, up.text
    down, down_rss = measured("run", "flows.yaml", "--flow", "down", cwd=tmp_path)
    assert down.code == 0, down.text
    back = pq.read_table(tmp_path / f"back-{rows}")
    assert back.num_rows == rows and back.sort_by("id").equals(table)
    size = sum(s3.fs.info(f)["size"] for f in s3.files(f"big-{rows}") if "_hygge" not in f)
    return size, up_rss, down_rss


def test_big_file_streams_both_ways(measured, s3, tmp_path: pathlib.Path) -> None:
    small = _up_down(measured, s3, tmp_path, 2_000_000)
    big = _up_down(measured, s3, tmp_path, 8_000_000)
    print(
        f"\nS3 write/read of {small[0] / MB:.0f} MB: peak RSS {small[1] / MB:.0f}/"
        f"{small[2] / MB:.0f} MB; of {big[0] / MB:.0f} MB: {big[1] / MB:.0f}/{big[2] / MB:.0f} MB"
    )
    assert big[0] > 3.5 * small[0]
    # Four times the data, the same memory: bounded by upload parts and row groups, not by
    # the file. (A local-to-local run of the same data peaks at about 270 MB.)
    assert big[1] < small[1] * 1.2 + 32 * MB, (small, big)
    assert big[2] < small[2] * 1.2 + 32 * MB, (small, big)
    assert max(big[1:]) < 512 * MB


def test_two_thousand_small_files(measured, s3, tmp_path: pathlib.Path) -> None:
    """A Parquet home over a prefix of 2,000 objects: all read, memory bounded, timed."""
    files, rows = 2000, 500
    prefix = s3.key("many")
    for first in range(0, files, 250):
        blobs = {}
        for i in range(first, first + 250):
            sink = pa.BufferOutputStream()
            pq.write_table(_wide(rows, seed=i).set_column(0, "id", _ids(i, rows)), sink)
            blobs[f"{prefix}/part-{i:05d}.parquet"] = sink.getvalue().to_pybytes()
        s3.fs.pipe(blobs)
    _flows(
        tmp_path,
        s3,
        {
            "many": {
                "home": {"type": "parquet", "path": s3.url("many") + "/", "connection": "lake"},
                "store": {"type": "parquet", "path": "back/"},
                "parallelism": 16,
            }
        },
    )
    started = time.monotonic()
    done, rss = measured("run", "flows.yaml", cwd=tmp_path)
    seconds = time.monotonic() - started
    assert done.code == 0, done.text
    back = pq.read_table(tmp_path / "back", columns=["id"])
    assert back.num_rows == files * rows
    assert pa.compute.count_distinct(back.column("id")).as_py() == files * rows
    print(
        f"\n2,000 files ({files * rows:,} rows) from S3: {seconds:.1f}s, peak RSS {rss / MB:.0f} MB"
    )
    assert rss < 400 * MB


def _ids(i: int, rows: int) -> pa.Array:
    return pa.array(np.arange(i * rows, (i + 1) * rows, dtype=np.int64))
