"""How the Parquet home cuts a file into work units: about `unit_rows` rows each, and as many
as keep every core of the flow busy to the end (`FlowContext.parallelism`)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hygge_parquet.home import ParquetHome

from hygge_core.context import FlowContext
from hygge_core.plugins import load_registry
from hygge_core.storage import StorageResolver


def source(tmp_path: pathlib.Path, rows: int, group: int) -> pathlib.Path:
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": pa.array(range(rows), pa.int64())}), path, row_group_size=group)
    return path


def unit_rows(path: pathlib.Path, parallelism: int | None, **home: object) -> list[int]:
    """Rows of each unit the home plans for `path` under `parallelism`."""
    ctx = FlowContext(flow="f", run_id="r", storage=StorageResolver(load_registry().storages))
    ctx.parallelism = parallelism
    config = ParquetHome.config_model.model_validate({"type": "parquet", "path": str(path), **home})
    return [u.estimated_rows or 0 for u in ParquetHome(config, ctx).plan(None)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rows", "group", "parallelism", "home", "expected"),
    [
        # 1M rows of small row groups: one unit per core, not one unit on one core.
        (1_000_000, 10_000, 2, {}, [500_000, 500_000]),
        # 2.5M rows: four equal units for two cores, not 1M + 1M + 0.5M (the last alone).
        (2_500_000, 10_000, 2, {}, [630_000, 630_000, 630_000, 610_000]),
        # Without a known parallelism (Dask), or on one core: `unit_rows` as configured.
        (1_000_000, 10_000, None, {}, [1_000_000]),
        (1_000_000, 10_000, 1, {}, [1_000_000]),
        # Row groups are never split: 1M-row groups stay a unit each.
        (3_000_000, 1_000_000, 2, {}, [1_000_000] * 3),
        # No unit below 100,000 rows: a small file stays one unit.
        (150_000, 10_000, 2, {}, [150_000]),
        # An explicit small `unit_rows` is kept as it is.
        (50_000, 1_000, 4, {"unit_rows": 10_000}, [10_000] * 5),
    ],
)
def test_units_spread_over_the_parallelism(
    tmp_path: pathlib.Path,
    rows: int,
    group: int,
    parallelism: int | None,
    home: dict[str, object],
    expected: list[int],
) -> None:
    assert unit_rows(source(tmp_path, rows, group), parallelism, **home) == expected


def test_a_run_plans_for_its_parallelism(tmp_path: pathlib.Path) -> None:
    """The runner tells the home the flow's parallelism before it plans: a 400,000-row file
    in 10,000-row groups lands as two part files with `parallelism: 2`, every row once."""
    path = source(tmp_path, 400_000, 10_000)
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        f"flows:\n  t:\n    home: {path}\n    store: {tmp_path}/out/\n    parallelism: 2\n"
    )
    cli = pathlib.Path(sys.executable).with_name("hygge")
    run = subprocess.run(
        [str(cli), "run", str(flows), "--log-format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    events = [json.loads(x) for x in run.stderr.splitlines() if x.startswith("{")]
    started = next(e for e in events if e["event"] == "flow_started")
    assert started["units"] == 2
    files = sorted((tmp_path / "out").glob("*.parquet"))
    assert [pq.read_metadata(f).num_rows for f in files] == [200_000, 200_000]
    ids = pq.read_table(tmp_path / "out").column("id").to_pylist()
    assert sorted(ids) == list(range(400_000))
