"""Write modes on every database: append doubles, replace is atomic for a concurrent reader,
merge updates and inserts by key, and bad merge input fails before anything is published."""

from __future__ import annotations

import pathlib
import threading
import time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from hygge_core.testing import FlowHarness


def rows(ids: range, label: str) -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "id": pa.array(list(ids), pa.int64()),
            "label": pa.array([f"{label}-{i}" for i in ids]),
            "amount": pa.array([i * 0.5 for i in range(n)], pa.float64()),
        }
    )


def load(
    harness: FlowHarness, database: Any, table: pa.Table, mode: str, **store: Any
) -> list[Any]:
    path = harness.root / f"in-{harness.count}.parquet"
    pq.write_table(table, path, row_group_size=max(1, table.num_rows // 3))
    flows = {
        "load": {
            "home": {
                "type": "parquet",
                "path": str(path),
                "unit_rows": max(1, table.num_rows // 3),
            },
            "store": {
                "type": "sql",
                "url": database.url,
                "table": database.table("t"),
                "mode": mode,
                **store,
            },
        }
    }
    return harness.run(flows)


def ok(results: list[Any]) -> None:
    assert [r.status for r in results] == ["ok"], [r.error for r in results]


def count(database: Any) -> int:
    engine = database.engine()
    with engine.connect() as conn:
        n = conn.execute(sa.text(f"SELECT count(*) FROM {quoted(database, 't')}")).scalar()
    engine.dispose()
    return int(n or 0)


def quoted(database: Any, name: str) -> str:
    return f'"{database.schema}"."{name}"' if database.schema else name


def test_append_twice_doubles_the_rows(
    tmp_path: pathlib.Path, database: Any, read_sql: Any
) -> None:
    harness = FlowHarness(tmp_path)
    ok(load(harness, database, rows(range(0, 300), "a"), "append"))
    ok(load(harness, database, rows(range(0, 300), "a"), "append"))
    got = read_sql(database.url, database.table("t"))
    assert got.num_rows == 600
    assert sorted(got["id"].to_pylist()) == sorted(list(range(300)) * 2)


def test_replace_leaves_exactly_the_new_rows(
    tmp_path: pathlib.Path, database: Any, read_sql: Any
) -> None:
    harness = FlowHarness(tmp_path)
    ok(load(harness, database, rows(range(0, 300), "old"), "replace"))
    ok(load(harness, database, rows(range(1000, 1100), "new"), "replace"))
    got = read_sql(database.url, database.table("t")).sort_by("id")
    assert got.equals(rows(range(1000, 1100), "new"))


def test_merge_updates_and_inserts_with_null_values(
    tmp_path: pathlib.Path, database: Any, read_sql: Any
) -> None:
    harness = FlowHarness(tmp_path)
    ok(load(harness, database, rows(range(0, 10), "first"), "merge", keys=["id"]))
    second = pa.table(
        {
            "id": pa.array([5, 6, 10, 11], pa.int64()),
            "label": pa.array([None, "second-6", None, "second-11"]),
            "amount": pa.array([None, 60.0, 100.0, None], pa.float64()),
        }
    )
    ok(load(harness, database, second, "merge", keys=["id"]))
    got = read_sql(database.url, database.table("t")).sort_by("id")
    first = [r for r in rows(range(0, 10), "first").to_pylist() if r["id"] not in (5, 6)]
    want = sorted(first + second.to_pylist(), key=lambda r: r["id"])
    assert got.to_pylist() == want


def test_merge_into_a_table_without_a_unique_key(
    tmp_path: pathlib.Path, database: Any, read_sql: Any
) -> None:
    """A target the user made without a key: the portable UPDATE-then-INSERT path."""
    engine = database.engine()
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {quoted(database, 't')} "
                "(id BIGINT, label VARCHAR(50), amount DOUBLE PRECISION)"
            )
        )
        conn.execute(
            sa.text(f"INSERT INTO {quoted(database, 't')} VALUES (1, 'keep', 1.0), (2, 'old', 2.0)")
        )
    engine.dispose()
    harness = FlowHarness(tmp_path)
    update = pa.table(
        {
            "id": pa.array([2, 3], pa.int64()),
            "label": pa.array(["new", None]),
            "amount": pa.array([None, 3.0], pa.float64()),
        }
    )
    ok(load(harness, database, update, "merge", keys=["id"]))
    got = read_sql(database.url, database.table("t")).sort_by("id").to_pylist()
    assert got == [
        {"id": 1, "label": "keep", "amount": 1.0},
        {"id": 2, "label": "new", "amount": None},
        {"id": 3, "label": None, "amount": 3.0},
    ]


def test_merge_with_duplicate_keys_fails_before_publishing(
    tmp_path: pathlib.Path, database: Any, read_sql: Any, sql_tables: Any
) -> None:
    harness = FlowHarness(tmp_path)
    ok(load(harness, database, rows(range(0, 10), "first"), "merge", keys=["id"]))
    # id 7 appears in two different units: the check covers all staged units together.
    dup = rows(range(5, 15), "dup")
    dup = pa.concat_tables([dup, rows(range(7, 8), "again")])
    results = load(harness, database, dup, "merge", keys=["id"])
    assert results[0].status == "failed"
    assert results[0].error == (
        f"table '{database.table('t')}': merge keys are not unique in the home "
        "(id=7 appears 2 times); nothing was written"
    )
    got = read_sql(database.url, database.table("t")).sort_by("id")
    assert got.equals(rows(range(0, 10), "first"))
    assert not [n for n in sql_tables(database.url, database.schema) if "_hygge_stg_" in n]


def test_merge_with_null_keys_fails(tmp_path: pathlib.Path, database: Any) -> None:
    harness = FlowHarness(tmp_path)
    table = pa.table({"id": pa.array([1, None], pa.int64()), "label": ["a", "b"]})
    results = load(harness, database, table, "merge", keys=["id"])
    assert results[0].error == (
        f"table '{database.table('t')}': merge key (id) is NULL in 1 row(s) of the home; "
        "nothing was written"
    )


@pytest.mark.services
def test_concurrent_reader_never_sees_an_empty_or_partial_table_during_replace(
    tmp_path: pathlib.Path, pg_database: Any
) -> None:
    """A thread polls count(*) while replace runs on PostgreSQL: it sees the old row count
    or the new one, never 0 and nothing in between."""
    database = pg_database
    pg_schema = database.schema
    harness = FlowHarness(tmp_path)
    old, new = 200_000, 150_000
    ok(load(harness, database, rows(range(old), "old"), "replace"))
    seen: set[int] = set()
    stop = threading.Event()
    engine = database.engine()

    def poll() -> None:
        with engine.connect() as conn:
            while not stop.is_set():
                seen.add(conn.execute(sa.text(f'SELECT count(*) FROM "{pg_schema}".t')).scalar())
                conn.rollback()

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        time.sleep(0.1)
        ok(load(harness, database, rows(range(new), "new"), "replace"))
        time.sleep(0.1)
    finally:
        stop.set()
        reader.join()
        engine.dispose()
    assert seen <= {old, new}, f"a reader saw {sorted(seen)}"
    assert old in seen and new in seen


def changes(rows: list[tuple[int, str | None, str, int, int]]) -> pa.Table:
    """A change log (hygge_core.changes): (id, label, _op, _lsn, _seq) per change."""
    ids, labels, ops, lsns, seqs = zip(*rows, strict=True)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "label": pa.array(labels, pa.string()),
            "_op": pa.array(ops, pa.string()),
            "_lsn": pa.array(lsns, pa.int64()),
            "_seq": pa.array(seqs, pa.int64()),
        }
    )


def test_merge_applies_a_change_log_last_change_per_key_wins(
    tmp_path: pathlib.Path, database: Any, read_sql: Any
) -> None:
    harness = FlowHarness(tmp_path)
    first = changes([(i, f"a{i}", "insert", 10, i) for i in range(6)])
    ok(load(harness, database, first, "merge", keys=["id"]))
    # Out of order on purpose: the store orders by (_lsn, _seq), not by arrival.
    second = changes(
        [
            (1, "b1", "update", 30, 0),
            (1, "c1", "update", 20, 0),  # older than the one above: loses
            (2, None, "delete", 20, 1),
            (3, None, "delete", 20, 2),  # a key change 3 -> 9: delete, then insert
            (9, "a3", "insert", 20, 3),
            (7, "x7", "insert", 20, 4),
            (7, None, "delete", 25, 0),  # inserted and deleted within the run
            (8, None, "delete", 20, 5),  # deleting an absent key changes nothing
            (4, None, "delete", 20, 6),
            (4, "again4", "insert", 40, 0),  # deleted, then inserted again
        ]
    )
    ok(load(harness, database, second, "merge", keys=["id"]))
    got = read_sql(database.url, database.table("t")).sort_by("id")
    assert got.select(["id", "label", "_op"]).to_pylist() == [
        {"id": 0, "label": "a0", "_op": "insert"},
        {"id": 1, "label": "b1", "_op": "update"},
        {"id": 4, "label": "again4", "_op": "insert"},
        {"id": 5, "label": "a5", "_op": "insert"},
        {"id": 9, "label": "a3", "_op": "insert"},
    ]
