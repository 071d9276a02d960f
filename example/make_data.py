"""Write the example's input files (deterministic, well under a second).

Only pyarrow is needed (it comes with hygge-core), so the demo runs on a bare machine.
"""

from __future__ import annotations

import pathlib

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = pathlib.Path(__file__).parent


def uniform_ints(n: int, low: int, high: int, seed: int) -> pa.Array:
    """`n` integers in [low, high), from Arrow's seeded generator."""
    draws = pc.random(n, initializer=seed)
    return pc.add(pc.floor(pc.multiply(draws, high - low)), low).cast(pa.int64())


def users(n: int) -> pa.Table:
    """A users table with the column types hygge moves most often."""
    countries = pa.array(["DK", "SE", "NO", "FI", "IS"])
    signed_up = pc.add(uniform_ints(n, 0, 30_000_000, seed=3), 1_704_067_200)  # from 2024
    return pa.table(
        {
            "id": pa.array(range(1, n + 1), pa.int64()),
            "age": uniform_ints(n, 18, 90, seed=1).cast(pa.int32()),
            "score": pc.random(n, initializer=2),
            "active": pc.less(pc.random(n, initializer=4), 0.7),
            "country": countries.take(uniform_ints(n, 0, 5, seed=5)),
            "signed_up": pc.multiply(signed_up, 1_000_000).cast(pa.timestamp("us")),
            "birthday": uniform_ints(n, -7305, 12_695, seed=6).cast(pa.int32()).cast(pa.date32()),
        }
    )


def orders(part: int, n: int) -> pa.Table:
    """One file of orders."""
    notes = pa.array(["gift", "rush", "", "repeat"])
    return pa.table(
        {
            "id": pa.array(range(part * n, (part + 1) * n), pa.int64()),
            "user_id": uniform_ints(n, 1, 100_000, seed=10 + part),
            "amount": pc.round(pc.multiply(pc.random(n, initializer=20 + part), 500), 2),
            "note": notes.take(uniform_ints(n, 0, 4, seed=30 + part)),
        }
    )


def main() -> None:
    """Write data/users.parquet and data/orders/ (three files)."""
    data = HERE / "data"
    (data / "orders").mkdir(parents=True, exist_ok=True)
    pq.write_table(users(100_000), data / "users.parquet", row_group_size=25_000)
    for part in range(3):
        pq.write_table(orders(part, 50_000), data / "orders" / f"orders-{part}.parquet")
    print(f"example data written to {data}")


if __name__ == "__main__":
    main()
