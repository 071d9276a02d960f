"""5,000,000 rows through `hygge run` with bounded memory, landing exactly."""

from __future__ import annotations

import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import run_measured

ROWS = 5_000_000


def big_table(rows: int, seed: int = 11) -> pa.Table:
    """int64, int32, float64, bool, string, timestamp[us], date32; 5% NULLs but in `id`."""
    rng = np.random.default_rng(seed)

    def nulls() -> np.ndarray:
        return rng.random(rows) < 0.05

    words = pa.array([f"word-{i:03d}-{'x' * (i % 30)}" for i in range(500)])
    return pa.table(
        {
            "id": pa.array(np.arange(rows, dtype=np.int64)),
            "i32": pa.array(rng.integers(-(2**31), 2**31 - 1, rows, dtype=np.int32), mask=nulls()),
            "f64": pa.array(rng.standard_normal(rows), mask=nulls()),
            "flag": pa.array(rng.random(rows) < 0.5, mask=nulls()),
            "text": words.take(pa.array(rng.integers(0, 500, rows))).cast(pa.string()),
            "ts": pa.array(rng.integers(0, 2**50, rows).astype("datetime64[us]"), mask=nulls()),
            "day": pa.array(rng.integers(0, 30_000, rows, dtype=np.int32), mask=nulls()).cast(
                pa.date32()
            ),
        }
    )


@pytest.mark.slow
def test_five_million_rows_exact_under_400_mb(tmp_path: pathlib.Path) -> None:
    table = big_table(ROWS)
    # Give `text` its NULLs too, after building it from the dictionary of words.
    mask = pa.array(np.random.default_rng(5).random(ROWS) < 0.05)
    table = table.set_column(4, "text", pa.compute.if_else(mask, None, table.column("text")))
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=500_000)
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        f"flows:\n  big:\n    home: {tmp_path}/big.parquet\n    store: {tmp_path}/lake/\n"
    )
    result, peak = run_measured("run", str(flows))
    assert result.code == 0, result.text
    landed = pq.read_table(tmp_path / "lake")
    assert landed.schema.equals(table.schema, check_metadata=False)
    assert landed.num_rows == ROWS
    assert landed.equals(table)
    assert peak < 400 * 2**20, f"peak RSS {peak / 2**20:.0f} MiB"
