"""Write the example's input files (deterministic, a few seconds at most)."""

from __future__ import annotations

import datetime as dt
import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = pathlib.Path(__file__).parent


def users(n: int, rng: np.random.Generator) -> pa.Table:
    """A users table with the column types hygge moves most often."""
    ids = np.arange(1, n + 1, dtype=np.int64)
    start = np.datetime64("2024-01-01T00:00:00", "us")
    return pa.table(
        {
            "id": ids,
            "age": pa.array(rng.integers(18, 90, n).astype(np.int32)),
            "score": rng.random(n),
            "active": rng.random(n) < 0.7,
            "country": pa.array(rng.choice(["DK", "SE", "NO", "FI", "IS"], n)),
            "signed_up": pa.array(start + rng.integers(0, 3e13, n).astype("timedelta64[us]")),
            "birthday": pa.array(
                [dt.date(1950, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 20000, n)]
            ),
        }
    )


def main() -> None:
    """Write data/users.parquet and data/orders/ (three files)."""
    rng = np.random.default_rng(7)
    data = HERE / "data"
    (data / "orders").mkdir(parents=True, exist_ok=True)
    pq.write_table(users(100_000, rng), data / "users.parquet", row_group_size=25_000)
    for part in range(3):
        n = 50_000
        pq.write_table(
            pa.table(
                {
                    "id": np.arange(part * n, (part + 1) * n, dtype=np.int64),
                    "user_id": rng.integers(1, 100_000, n),
                    "amount": np.round(rng.random(n) * 500, 2),
                    "note": pa.array(rng.choice(["gift", "rush", "", "repeat"], n)),
                }
            ),
            data / "orders" / f"orders-{part}.parquet",
        )
    print(f"example data written to {data}")


if __name__ == "__main__":
    main()
