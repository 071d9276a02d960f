"""The SQL home: key-range splits, incremental windows, column selection, plain errors."""

from __future__ import annotations

import datetime as dt
import pathlib
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from hygge_sql import home as home_module
from hygge_sql.home import SqlHome, SqlHomeConfig

from hygge_core.context import FlowContext
from hygge_core.storage import StorageResolver
from hygge_core.testing import FlowHarness
from hygge_core.units import Window

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def events(ids: list[int | None], start: int = 0) -> pa.Table:
    """Rows with an id (NULLs allowed) and an aware timestamp that grows with position."""
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "at": pa.array(
                [T0 + dt.timedelta(seconds=start + i) for i in range(len(ids))],
                pa.timestamp("us", "UTC"),
            ),
            "note": pa.array([f"n{start + i}" for i in range(len(ids))]),
        }
    )


def put(tmp_path: pathlib.Path, database: Any, table: pa.Table, mode: str = "append") -> None:
    harness = FlowHarness(tmp_path / f"put-{mode}-{table.num_rows}-{id(table)}")
    harness.root.mkdir(parents=True)
    pq.write_table(table, harness.root / "in.parquet")
    harness.run_ok(
        {
            "put": {
                "home": {"type": "parquet", "path": str(harness.root / "in.parquet")},
                "store": {"type": "sql", "url": database.url, "table": database.table("ev")},
            }
        }
    )


def make_home(database: Any, **options: Any) -> SqlHome:
    config = SqlHomeConfig.model_validate(
        {"type": "sql", "url": database.url, "table": database.table("ev"), **options}
    )
    return SqlHome(config, FlowContext(flow="f", run_id="r", storage=StorageResolver({})))


def read_all(home: SqlHome, window: Window | None = None) -> tuple[list[Any], pa.Table]:
    units = home.plan(window)
    units = [u if window is None else type(u)(**{**u.__dict__, "window": window}) for u in units]
    batches = [b for u in units for b in home.read(u)]
    return units, pa.Table.from_batches(batches, schema=home.schema())


def test_split_reads_every_row_once_nulls_included(tmp_path: pathlib.Path, database: Any) -> None:
    ids: list[int | None] = [*range(1000), None, None]
    put(tmp_path, database, events(ids))
    home = make_home(database, split={"column": "id", "units": 4})
    units, got = read_all(home)
    assert len(units) == 4
    assert [u.id for u in units] == [
        u.id for u in make_home(database, split={"column": "id", "units": 4}).plan(None)
    ]
    assert sorted(got["id"].to_pylist(), key=lambda v: -1 if v is None else v) == [
        None,
        None,
        *range(1000),
    ]


def test_split_on_a_timestamp_column(tmp_path: pathlib.Path, database: Any) -> None:
    put(tmp_path, database, events(list(range(500))))
    units, got = read_all(make_home(database, split={"column": "at", "units": 5}))
    assert len(units) == 5
    assert sorted(got["id"].to_pylist()) == list(range(500))


def test_automatic_split_sizes_units_by_rows(
    tmp_path: pathlib.Path, database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(tmp_path, database, events(list(range(1000))))
    monkeypatch.setattr(home_module, "ROWS_PER_UNIT", 250)
    monkeypatch.setattr(home_module.os, "cpu_count", lambda: 2)  # counts round to the cores
    if database.kind == "postgres":  # the planner's estimate needs statistics
        engine = database.engine()
        with engine.connect() as conn:
            conn.execute(sa.text(f'ANALYZE "{database.schema}".ev'))
            conn.commit()
        engine.dispose()
    units, got = read_all(make_home(database, split={"column": "id"}))
    assert len(units) == 4
    assert got.num_rows == 1000


def test_a_partitioned_table_is_sized_by_its_partitions_statistics(pg_database: Any) -> None:
    """Autovacuum analyses partitions, never their parent (whose estimate stays -1): the
    estimate adds up the leaf partitions' (rows added since are not counted: no scan ran),
    and falls back to count(*) while a partition was never analysed."""
    schema = pg_database.schema
    engine = pg_database.engine()
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE TABLE "{schema}".pt (id bigint) PARTITION BY RANGE (id)'))
        for i, (low, high) in enumerate([(0, 600), (600, 2000)]):
            conn.execute(
                sa.text(
                    f'CREATE TABLE "{schema}".pt{i} PARTITION OF "{schema}".pt '
                    f"FOR VALUES FROM ({low}) TO ({high})"
                )
            )
        conn.execute(sa.text(f'INSERT INTO "{schema}".pt SELECT generate_series(0, 999)'))
    backend = make_home(pg_database).backend
    table = sa.table("pt", schema=schema)
    with engine.connect() as conn:
        assert backend.estimate_rows(conn, table, None) == 1000  # not analysed: counted
        conn.execute(sa.text(f'ANALYZE "{schema}".pt0, "{schema}".pt1'))
        conn.execute(sa.text(f'INSERT INTO "{schema}".pt SELECT generate_series(1000, 1499)'))
        conn.commit()
        assert backend.estimate_rows(conn, table, None) == 1000  # the statistics' figure
    engine.dispose()


def test_split_refuses_a_text_column(tmp_path: pathlib.Path, sqlite_database: Any) -> None:
    put(tmp_path, sqlite_database, events([1, 2]))
    with pytest.raises(Exception, match="cannot split on 'note'"):
        make_home(sqlite_database, split={"column": "note"}).plan(None)


def test_incremental_reads_strictly_after_the_cursor(tmp_path: pathlib.Path, database: Any) -> None:
    """Two runs through the CLI runner: the second reads only rows past the first's cursor
    (an aware timestamp), with the window pushed into the SELECT; NULL cursors are read by
    the first run only."""
    first = events([1, 2, 3])
    nulls = pa.table(
        {
            "id": pa.array([99], pa.int64()),
            "at": pa.array([None], pa.timestamp("us", "UTC")),
            "note": ["null cursor"],
        }
    )
    put(tmp_path, database, pa.concat_tables([first, nulls]))
    harness = FlowHarness(tmp_path)
    flow = {
        "inc": {
            "home": {
                "type": "sql",
                "url": database.url,
                "table": database.table("ev"),
                "incremental": {"cursor": "at"},
                "split": {"column": "id", "units": 2},
            },
            "store": {"type": "parquet", "path": str(tmp_path / "lake"), "mode": "append"},
        }
    }
    assert harness.run_ok(flow)[0].rows == 4
    later = pa.concat_tables([events([4, 5], start=3), nulls])
    put(tmp_path, database, later)
    results = harness.run_ok(flow)
    assert results[0].rows == 2, "only the two rows after the cursor"
    lake = pq.read_table(tmp_path / "lake").sort_by("id")
    assert lake["id"].to_pylist() == [1, 2, 3, 4, 5, 99]
    assert results[0].window is not None
    cursor = T0 + dt.timedelta(seconds=2)
    if database.kind == "mariadb":  # DATETIME keeps the UTC wall time, without a zone
        cursor = cursor.replace(tzinfo=None)
    assert results[0].window.after == cursor


def test_incremental_start_bound_and_integer_cursor(tmp_path: pathlib.Path, database: Any) -> None:
    put(tmp_path, database, events(list(range(10))))
    home = make_home(database)
    _, got = read_all(home, Window(cursor="id", after=6))
    assert got["id"].to_pylist() == [7, 8, 9]
    _, got = read_all(make_home(database), Window(cursor="at", after=T0 + dt.timedelta(seconds=7)))
    assert sorted(got["id"].to_pylist()) == [8, 9]


def test_columns_are_selected_in_order(tmp_path: pathlib.Path, database: Any) -> None:
    put(tmp_path, database, events([1, 2]))
    home = make_home(database, columns=["note", "id"])
    assert home.schema().names == ["note", "id"]
    _, got = read_all(home)
    assert got.sort_by("id").to_pylist() == [{"note": "n0", "id": 1}, {"note": "n1", "id": 2}]


def test_unknown_column_and_missing_table_errors(
    tmp_path: pathlib.Path, sqlite_database: Any
) -> None:
    put(tmp_path, sqlite_database, events([1]))
    with pytest.raises(Exception) as info:
        make_home(sqlite_database, columns=["id", "nope"]).schema()
    assert str(info.value) == "table 'ev' has no column(s) nope; columns: id, at, note"
    config = SqlHomeConfig.model_validate(
        {"type": "sql", "url": sqlite_database.url, "table": "evv"}
    )
    home = SqlHome(config, FlowContext(flow="f", run_id="r", storage=StorageResolver({})))
    with pytest.raises(Exception) as info:
        home.schema()
    assert str(info.value) == "table 'evv' does not exist; did you mean 'ev'?"


def test_a_sqlite_home_never_creates_its_database(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    config = SqlHomeConfig.model_validate({"type": "sql", "url": url, "table": "t"})
    home = SqlHome(config, FlowContext(flow="f", run_id="r", storage=StorageResolver({})))
    with pytest.raises(Exception, match=r"SQLite database file .*absent\.db does not exist"):
        home.schema()
    assert not (tmp_path / "absent.db").exists()
