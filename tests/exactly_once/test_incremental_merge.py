"""Three successive incremental runs with inserted, updated and late-arriving rows between
them: merge lands every row exactly once (latest version), append every new row once."""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import secrets

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import tables_equal
from tests.conftest import run_cli

sa = pytest.importorskip("sqlalchemy")
pytest.importorskip("hygge_sql")

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def rows(*items: tuple[int, int, str]) -> pa.Table:
    """(id, minutes after T0, value) rows."""
    return pa.table(
        {
            "id": pa.array([i for i, _, _ in items], pa.int64()),
            "updated_at": pa.array(
                [T0 + dt.timedelta(minutes=m) for _, m, _ in items], pa.timestamp("us", tz="UTC")
            ),
            "value": pa.array([v for _, _, v in items]),
        }
    )


def latest(*tables: pa.Table) -> pa.Table:
    """What a merge on id must hold: the newest version of every id."""
    best: dict[int, dict] = {}
    for table in tables:
        for row in table.to_pylist():
            old = best.get(row["id"])
            if old is None or row["updated_at"] >= old["updated_at"]:
                best[row["id"]] = row
    return pa.Table.from_pylist(
        sorted(best.values(), key=lambda r: r["id"]), schema=tables[0].schema
    )


def read_sql(url: str, table: str) -> pa.Table:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        result = conn.execute(sa.text(f"select id, updated_at, value from {table} order by id"))
        data = [dict(r._mapping) for r in result]
    engine.dispose()
    for r in data:
        if isinstance(r["updated_at"], str):  # SQLite keeps timestamps as ISO text
            r["updated_at"] = dt.datetime.fromisoformat(r["updated_at"])
        if r["updated_at"].tzinfo is None:
            r["updated_at"] = r["updated_at"].replace(tzinfo=dt.UTC)
    return pa.Table.from_pylist(data, schema=rows((0, 0, "")).schema)


def test_parquet_to_sqlite_merge_with_lookback(tmp_path: pathlib.Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    url = f"sqlite:///{tmp_path}/db.sqlite"
    flows = tmp_path / "flows.yaml"
    flows.write_text(f"""
flows:
  users:
    home:
      type: parquet
      path: {home}
      incremental: {{cursor: updated_at, lookback: 30 minutes}}
    store: {{type: sql, url: "{url}", table: users, mode: merge, keys: [id]}}
""")
    batches = [
        rows((1, 10, "a"), (2, 20, "b"), (3, 30, "c"), (4, 40, "d")),
        # updated id 2, inserted id 5, and id 6 arriving late: older than the cursor (40)
        # but inside the 30-minute lookback.
        rows((2, 50, "b2"), (5, 55, "e"), (6, 35, "f-late")),
        # updated id 6 and id 1, inserted 7, late id 8 inside the lookback of cursor 70.
        rows((6, 60, "f2"), (1, 70, "a2"), (7, 65, "g"), (8, 45, "h-late")),
    ]
    for n in range(len(batches)):
        # The home is a table exported whole after each change (latest version per id);
        # a change log with several versions of a key is refused by merge, as documented.
        pq.write_table(latest(*batches[: n + 1]), home / "users.parquet")
        result = run_cli("run", str(flows))
        assert result.code == 0, result.text
        assert tables_equal(read_sql(url, "users"), latest(*batches[: n + 1]))


@pytest.fixture
def pg(tmp_path: pathlib.Path):
    url = os.environ.get("HYGGE_TEST_PG_URL")
    if not url:
        if os.environ.get("HYGGE_REQUIRE_SERVICES") == "1":
            pytest.fail("HYGGE_TEST_PG_URL is not set")
        pytest.skip("PostgreSQL not running")
    schema = f"hygge_i_{secrets.token_hex(4)}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(
            sa.text(
                f'CREATE TABLE "{schema}".src (id bigint primary key, '
                "updated_at timestamptz, value text)"
            )
        )
    yield url, schema, engine
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def upsert(engine, schema: str, table: pa.Table) -> None:
    with engine.begin() as conn:
        for r in table.to_pylist():
            conn.execute(
                sa.text(
                    f'INSERT INTO "{schema}".src VALUES (:id, :updated_at, :value) '
                    "ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, "
                    "value = excluded.value"
                ),
                r,
            )


def test_postgres_to_postgres_merge_and_to_parquet_append(tmp_path: pathlib.Path, pg) -> None:
    url, schema, engine = pg
    flows = tmp_path / "flows.yaml"
    flows.write_text(f"""
flows:
  merged:
    home:
      type: sql
      url: {url}
      table: {schema}.src
      incremental: {{cursor: updated_at, lookback: 30 minutes}}
    store: {{type: sql, url: {url}, table: {schema}.dst, mode: merge, keys: [id]}}
  appended:
    home: {{type: sql, url: {url}, table: {schema}.src, incremental: {{cursor: id}}}}
    store: {{type: parquet, path: {tmp_path}/lake, mode: append}}
""")
    changes = [
        rows((1, 10, "a"), (2, 20, "b"), (3, 30, "c")),
        rows((2, 50, "b2"), (4, 55, "d"), (5, 25, "e-late")),
        rows((5, 60, "e2"), (6, 65, "f"), (7, 40, "g-late")),
    ]
    for n, change in enumerate(changes):
        upsert(engine, schema, change)
        result = run_cli("run", str(flows))
        assert result.code == 0, result.text
        want = latest(*changes[: n + 1])
        assert tables_equal(read_sql(url, f'"{schema}".dst'), want)
        # Append by an ever-growing id: each new id exactly once, updates not re-read.
        lake = pq.read_table(tmp_path / "lake")
        assert sorted(lake.column("id").to_pylist()) == sorted(want.column("id").to_pylist())
