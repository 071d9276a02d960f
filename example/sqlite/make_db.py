"""Write the SQLite example's inputs: data/example.db (an `orders` table, as an application
would keep it) and data/customers.parquet. Deterministic; standard library and pyarrow only.

    python example/sqlite/make_db.py            # writes example/data/
    python example/sqlite/make_db.py OUT_DIR    # writes OUT_DIR/example/data/ (tests)
"""

from __future__ import annotations

import datetime as dt
import pathlib
import random
import sqlite3
import sys

import pyarrow as pa
import pyarrow.parquet as pq

ORDERS = 10_000
CUSTOMERS = 1_000


def make_orders(path: pathlib.Path, rng: random.Random) -> None:
    """An `orders` table in the shape SQLAlchemy and most tools write SQLite: ISO text
    timestamps, 0/1 booleans, NUMERIC amounts."""
    path.unlink(missing_ok=True)
    start = dt.datetime(2024, 1, 1)
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, "
            "amount DECIMAL(10, 2), status VARCHAR(10), paid BOOLEAN, created_at TIMESTAMP)"
        )
        rows = []
        for i in range(1, ORDERS + 1):
            created = start + dt.timedelta(minutes=7 * i, microseconds=rng.randrange(10**6))
            rows.append(
                (
                    i,
                    rng.randrange(1, CUSTOMERS + 1),
                    round(rng.uniform(1, 500), 2),
                    rng.choice(["new", "shipped", "returned", None]),
                    rng.random() < 0.8,
                    created.isoformat(sep=" ", timespec="microseconds"),
                )
            )
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)", rows)
    db.close()


def make_customers(path: pathlib.Path, rng: random.Random) -> None:
    """Customers as another system exports them: Parquet, to be merged into the database."""
    names = ["Astrid", "Bo", "Çelik", "Dagný", "Eero", "Frida", "Göran", "Hygge Ltd."]
    pq.write_table(
        pa.table(
            {
                "id": pa.array(range(1, CUSTOMERS + 1), pa.int64()),
                "name": [f"{rng.choice(names)} {i}" for i in range(1, CUSTOMERS + 1)],
                "country": [rng.choice(["DK", "SE", "NO", "FI", "IS"]) for _ in range(CUSTOMERS)],
                "since": pa.array(
                    [
                        dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(3000))
                        for _ in range(CUSTOMERS)
                    ],
                    pa.date32(),
                ),
            }
        ),
        path,
    )


def main() -> None:
    """Write both inputs under example/data/ (or under the folder given)."""
    root = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).parents[2]
    data = root / "example" / "data"
    data.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    make_orders(data / "example.db", rng)
    make_customers(data / "customers.parquet", rng)
    print(f"wrote {data / 'example.db'} and {data / 'customers.parquet'}")


if __name__ == "__main__":
    main()
