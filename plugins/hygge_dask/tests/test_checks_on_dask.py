"""Transforms and checks run on Dask workers: the flow's `Shaping` pickles to them, the
checks' partials come back with each unit's receipt and are combined in the driver."""

from __future__ import annotations

import pathlib
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hygge_core.api import run_file
from hygge_core.testing import FlowHarness


def test_transforms_and_a_unique_check_across_workers(tmp_path: pathlib.Path) -> None:
    (tmp_path / "home").mkdir()
    for i in range(4):
        ids = list(range(i * 100, (i + 1) * 100))
        if i == 3:
            ids[-1] = 5  # the same id as a row of the first file, on another unit
        pq.write_table(pa.table({"Id": ids, "Name": [f"n{x}" for x in ids]}),
                       tmp_path / "home" / f"p{i}.parquet")  # fmt: skip
    flow: dict[str, Any] = {
        "home": {"type": "parquet", "path": str(tmp_path / "home")},
        "store": {"type": "parquet", "path": str(tmp_path / "lake")},
        "transform": [{"rename": {"case": "lower"}}, {"derive": {"twice": "id * 2"}}],
        "checks": [{"unique": {"columns": ["id"], "spill": str(tmp_path / "spill")}}],
    }
    options = {"n_workers": 2, "threads_per_worker": 1}
    path = FlowHarness(tmp_path).write({"f": flow})
    (failed,) = run_file(str(path), executor="dask", executor_options=options)
    assert failed.status == "failed"
    assert "check unique(id)" in (failed.error or "")
    assert "1 of 400 row(s) repeat the key of another row, e.g. id=5 (2 rows)" in (
        failed.error or ""
    )
    assert not (tmp_path / "lake").exists() or not list((tmp_path / "lake").glob("*.parquet"))
    flow["checks"] = [{"unique": {"columns": ["id"], "severity": "warn"}}]
    path = FlowHarness(tmp_path).write({"f": flow})
    (ok,) = run_file(str(path), executor="dask", executor_options=options)
    assert ok.status == "ok", ok.error
    assert [c.failed for c in ok.checks] == [1]
    landed = pq.read_table(tmp_path / "lake")
    assert landed.column_names == ["id", "name", "twice"]
    assert landed.num_rows == 400
