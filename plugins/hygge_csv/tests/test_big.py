"""5,000,000 CSV rows through `hygge run` in bounded memory, both directions, exactly."""

from __future__ import annotations

import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import run_hygge_measured

ROWS = 5_000_000
PEAK_LIMIT = 600 * 2**20

# Runs the command in a child and prints the child's peak RSS (KiB on Linux) last.


def hygge_measured(*args: str) -> tuple[int, str, int, float]:
    """(exit code, stderr, peak RSS bytes, seconds) of `hygge ARGS` in its own process."""
    run = run_hygge_measured(*args)
    return run.returncode, run.stderr, run.peak_rss, run.seconds


def orders(rows: int, seed: int = 3) -> pa.Table:
    """The benchmark's shape: 9 columns of the types CSV carries, NULLs in most."""
    rng = np.random.default_rng(seed)

    def nulls() -> np.ndarray:
        return rng.random(rows) < 0.03

    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ,\"'0123456789", np.uint8)
    comments = pa.array(
        ["".join(map(chr, rng.choice(letters, int(n)))) for n in rng.integers(20, 41, 2000)]
    )
    categories = pa.array([f"category_{i:02d}" for i in range(50)])
    return pa.table(
        {
            "id": pa.array(np.arange(rows, dtype=np.int64)),
            "customer_id": pa.array(rng.integers(0, 10**6, rows), mask=nulls()),
            "amount": pa.array(np.round(rng.random(rows) * 1000, 2), mask=nulls()),
            "quantity": pa.array(rng.integers(0, 1000, rows, dtype=np.int32), mask=nulls()),
            "is_active": pa.array(rng.random(rows) < 0.5, mask=nulls()),
            "category": categories.take(pa.array(rng.integers(0, 50, rows))),
            "comment": pc.if_else(
                pa.array(nulls()), None, comments.take(pa.array(rng.integers(0, 2000, rows)))
            ),
            "created_at": pa.array(
                rng.integers(1.2e15, 1.7e15, rows).astype("datetime64[us]"), mask=nulls()
            ),
            "event_date": pa.array(
                rng.integers(0, 20_000, rows, dtype=np.int32), mask=nulls()
            ).cast(pa.date32()),
        }
    )


@pytest.mark.slow
def test_five_million_csv_rows_both_ways_in_bounded_memory(tmp_path: pathlib.Path) -> None:
    table = orders(ROWS)
    types = {f.name: str(f.type) for f in table.schema}
    pacsv.write_csv(table, tmp_path / "orders.csv")
    size = (tmp_path / "orders.csv").stat().st_size
    flows = tmp_path / "flows.yaml"
    columns = "{" + ", ".join(f"{k}: '{v}'" for k, v in types.items()) + "}"
    flows.write_text(
        "flows:\n"
        "  csv_to_parquet:\n"
        f"    home: {{type: csv, path: {tmp_path}/orders.csv, columns: {columns}}}\n"
        f"    store: {tmp_path}/lake/\n"
        "  parquet_to_csv:\n"
        f"    home: {tmp_path}/lake/\n"
        f"    store: {tmp_path}/out/orders.csv\n"
    )
    code, err, peak, seconds = hygge_measured("run", str(flows), "--flow", "csv_to_parquet")
    print(f"\nCSV→Parquet {ROWS:,} rows ({size / 2**20:.0f} MiB): {seconds:.2f} s, "
          f"peak RSS {peak / 2**20:.0f} MiB")  # fmt: skip
    assert code == 0, err
    assert peak < PEAK_LIMIT, f"peak RSS {peak / 2**20:.0f} MiB"
    landed = pq.read_table(tmp_path / "lake")
    assert landed.num_rows == ROWS
    assert landed.sort_by("id").equals(table), "CSV → Parquet changed the data"
    del landed

    code, err, peak, seconds = hygge_measured("run", str(flows), "--flow", "parquet_to_csv")
    print(f"Parquet→CSV {ROWS:,} rows: {seconds:.2f} s, peak RSS {peak / 2**20:.0f} MiB")
    assert code == 0, err
    assert peak < PEAK_LIMIT, f"peak RSS {peak / 2**20:.0f} MiB"
    back = pacsv.read_csv(
        tmp_path / "out" / "orders.csv",
        convert_options=pacsv.ConvertOptions(
            column_types=table.schema, strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
    assert back.num_rows == ROWS
    assert back.sort_by("id").equals(table), "Parquet → CSV changed the data"
