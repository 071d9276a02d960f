"""The vectorised binary COPY encoder round-trips every benchmark type, nulls included.

Needs PostgreSQL (``HYGGE_BENCH_PG_DSN`` or ``HYGGE_TEST_PG_DSN``); skipped without one.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pyarrow as pa
import pytest

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "programs"))

import gen  # noqa: E402
import pgbinary  # noqa: E402
import verify  # noqa: E402

DSN = gen.pg_dsn_from_env()
pytestmark = pytest.mark.skipif(not DSN, reason="no PostgreSQL DSN in the environment")


def copy_in(table_name: str, t: pa.Table, chunk: int) -> None:
    import psycopg

    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table_name}")
        conn.execute(pgbinary.create_table_sql(table_name, t.schema))
        with conn.cursor().copy(f"COPY {table_name} FROM STDIN (FORMAT binary)") as copy:
            copy.write(pgbinary.COPY_HEADER)
            for batch in t.to_batches(max_chunksize=chunk):
                copy.write(pgbinary.encode_batch(batch))
            copy.write(pgbinary.COPY_TRAILER)


def test_benchmark_table_round_trips() -> None:
    import psycopg

    t = pa.Table.from_batches([gen.make_chunk(0, 5000)])
    copy_in("bench_test_pgbinary", t, chunk=1234)  # sliced batches: non-zero array offsets
    got = verify.digest_pg(DSN, "bench_test_pgbinary")
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_test_pgbinary")
    assert got == verify.digest_batches(t.to_batches())


def test_nulls_and_edge_values() -> None:
    import psycopg

    t = pa.table(
        {
            "s": pa.array(["a", None, "héllo", ""]),
            "i": pa.array([1, None, -(2**63), 2**63 - 1], pa.int64()),
            "f": pa.array([1.5, -0.25, None, float("inf")]),
            "b": pa.array([True, False, None, True]),
            "ts": pa.array(
                [
                    dt.datetime(1999, 12, 31, 23, 59, 59, 999999),
                    None,
                    dt.datetime(1970, 1, 1),
                    None,
                ],
                pa.timestamp("us"),
            ),
            "d": pa.array([dt.date(1970, 1, 1), dt.date(2000, 1, 1), None, dt.date(1969, 12, 31)]),
        }
    )
    copy_in("bench_test_pgbinary_nulls", t, chunk=3)
    with psycopg.connect(DSN) as conn:
        rows = conn.execute("SELECT * FROM bench_test_pgbinary_nulls").fetchall()
        conn.execute("DROP TABLE bench_test_pgbinary_nulls")
    assert rows == [tuple(r.values()) for r in t.to_pylist()]
