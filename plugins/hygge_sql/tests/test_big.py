"""5,000,000 rows PostgreSQL → Parquet → PostgreSQL through `hygge run`, in bounded memory.

The peak RSS is the `hygge` child's own (measured by a wrapper process whose only child it
is). The flows set `memory: 64MB`: hygge's default byte budget for batches in flight is
256MB, which on top of the ~110MB that Python, pyarrow, SQLAlchemy and the drivers take
passes 400MB by itself. Parquet row groups are 250,000 rows, because a Parquet writer holds
and a reader decodes a whole row group at a time. The second test gives the table a primary
key and splits the read on it (`split: {column: id, units: 6}`, as a remote server would
split by itself on 2 cores), with two units in flight.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml

from hygge_core.testing import run_hygge_measured

ROWS = 5_000_000
PEAK_LIMIT = 400 * 2**20
# A split read (the table has a primary key) holds a row group (250,000 rows here) and a
# driver batch per unit in flight: measured on the 2-core test machine, the same flow peaks
# at about 370 MiB with `split: false` and 420-430 MiB split, hence 60 MiB more.
SPLIT_PEAK_LIMIT = 460 * 2**20


def hygge_measured(*args: str) -> tuple[int, str, int, float]:
    """(exit code, stderr, peak RSS bytes, seconds) of `hygge ARGS` in its own process."""
    run = run_hygge_measured(*args)
    return run.returncode, run.stderr, run.peak_rss, run.seconds


# The benchmark's shape: 9 columns, made by the server (no Python loop).
SOURCE_SQL = """
CREATE TABLE {t} AS SELECT
  g::bigint AS id,
  (g::bigint * 7919 % 1000003) AS customer_id,
  (g % 100000) / 100.0::double precision AS amount,
  (g % 1000)::int AS quantity,
  g % 3 = 0 AS is_active,
  'category_' || lpad((g % 50)::text, 2, '0') AS category,
  CASE WHEN g % 31 = 0 THEN NULL ELSE md5(g::text) END AS comment,
  timestamp '2020-01-01' + g * interval '1 second' AS created_at,
  date '2000-01-01' + (g % 10000) AS event_date
FROM generate_series(0, {n} - 1) AS g
"""


@pytest.mark.slow
@pytest.mark.services
def test_five_million_rows_both_ways_in_bounded_memory(
    tmp_path: pathlib.Path, pg_database: Any
) -> None:
    source, target = pg_database.table("src"), pg_database.table("dst")
    engine = pg_database.engine()
    with engine.begin() as conn:
        conn.execute(sa.text(SOURCE_SQL.format(t=source, n=ROWS)))
    flows = tmp_path / "flows.yaml"
    lake = tmp_path / "lake"
    flows.write_text(
        yaml.safe_dump(
            {
                "flows": {
                    "pg_to_parquet": {
                        "home": {"type": "sql", "url": pg_database.url, "table": source},
                        "store": {"type": "parquet", "path": str(lake), "row_group_rows": 250_000},
                        "memory": "64MB",
                    },
                    "parquet_to_pg": {
                        "home": {"type": "parquet", "path": str(lake)},
                        "store": {"type": "sql", "url": pg_database.url, "table": target},
                        "memory": "64MB",
                    },
                }
            }
        )
    )
    code, err, peak, seconds = hygge_measured("run", str(flows), "--flow", "pg_to_parquet")
    print(f"\nPostgreSQL→Parquet {ROWS:,} rows: {seconds:.2f} s, peak RSS {peak / 2**20:.0f} MiB")
    assert code == 0, err
    assert peak < PEAK_LIMIT, f"peak RSS {peak / 2**20:.0f} MiB"
    landed = pq.read_table(lake, columns=["id", "comment"])
    assert landed.num_rows == ROWS
    assert pc.sum(landed["id"]).as_py() == ROWS * (ROWS - 1) // 2
    assert landed["comment"].null_count == len(range(0, ROWS, 31))
    del landed

    code, err, peak, seconds = hygge_measured("run", str(flows), "--flow", "parquet_to_pg")
    print(f"Parquet→PostgreSQL {ROWS:,} rows: {seconds:.2f} s, peak RSS {peak / 2**20:.0f} MiB")
    assert code == 0, err
    assert peak < PEAK_LIMIT, f"peak RSS {peak / 2**20:.0f} MiB"
    with engine.connect() as conn:
        # Every row, every column: the two tables hold the same rows.
        differ = conn.execute(
            sa.text(
                f"SELECT count(*) FROM ((SELECT * FROM {source} EXCEPT ALL SELECT * FROM {target})"
                f" UNION ALL (SELECT * FROM {target} EXCEPT ALL SELECT * FROM {source})) AS d"
            )
        ).scalar()
        rows = conn.execute(sa.text(f"SELECT count(*) FROM {target}")).scalar()
    engine.dispose()
    assert (rows, differ) == (ROWS, 0)


@pytest.mark.slow
@pytest.mark.services
def test_five_million_rows_split_by_their_key_in_bounded_memory(
    tmp_path: pathlib.Path, pg_database: Any
) -> None:
    source = pg_database.table("src")
    engine = pg_database.engine()
    with engine.begin() as conn:
        conn.execute(sa.text(SOURCE_SQL.format(t=source, n=ROWS)))
        conn.execute(sa.text(f"ALTER TABLE {source} ADD PRIMARY KEY (id)"))
        conn.execute(sa.text(f"ANALYZE {source}"))
    engine.dispose()
    lake = tmp_path / "lake"
    flows = tmp_path / "flows.yaml"
    flow = {
        "home": {
            "type": "sql",
            "url": pg_database.url,
            "table": source,
            "split": {"column": "id", "units": 6},
        },
        "store": {"type": "parquet", "path": str(lake), "row_group_rows": 250_000},
        "memory": "64MB",
        "parallelism": 2,
    }
    flows.write_text(yaml.safe_dump({"flows": {"pg_to_parquet": flow}}))
    done = run_hygge_measured("run", str(flows), env={"HYGGE_SQL_SPLIT_ROWS": None})
    peak = done.peak_rss
    print(f"\nsplit PostgreSQL→Parquet {ROWS:,} rows: {done.seconds:.2f} s, {peak / 2**20:.0f} MiB")
    assert done.returncode == 0, done.stderr
    assert peak < SPLIT_PEAK_LIMIT, f"peak RSS {peak / 2**20:.0f} MiB"
    parts = sorted(lake.glob("*.parquet"))
    assert len(parts) >= 5, "one file per unit: the read split"
    landed = pq.read_table(lake, columns=["id", "comment"])
    assert landed.num_rows == ROWS
    assert pc.sum(landed["id"]).as_py() == ROWS * (ROWS - 1) // 2
    assert pc.count_distinct(landed["id"]).as_py() == ROWS
    assert landed["comment"].null_count == len(range(0, ROWS, 31))
