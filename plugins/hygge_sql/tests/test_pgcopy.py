"""PostgreSQL loads through hygge's own binary COPY encoder: exact values for every type it
encodes (NULLs, chunking, sliced batches), and failures that stop it cleanly."""

from __future__ import annotations

import datetime as dt
import decimal
import pathlib
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from hygge_sql.backends import pgcopy
from hygge_sql.store import SqlStore, SqlStoreConfig

from hygge_core import FlowState, PermanentError
from hygge_core.context import FlowContext
from hygge_core.storage import StorageResolver
from hygge_core.testing import FlowHarness

UTC = dt.UTC
D = decimal.Decimal
ROWS = pgcopy.ROWS * 2 + 123  # more than one encoded chunk, and a ragged last one


def encodable_table() -> pa.Table:
    """Every type the encoder handles, a NULL in every third row of each nullable column."""
    n = ROWS

    def nulls(values: list[Any]) -> list[Any]:
        return [None if i % 3 == 1 else v for i, v in enumerate(values)]

    base = dt.datetime(1999, 12, 31, 23, 59, 59, 999999)
    return pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "i16": pa.array(nulls([(i % 65536) - 32768 for i in range(n)]), pa.int16()),
            "i32": pa.array(nulls([i * 40503 - 2**31 for i in range(n)]), pa.int32()),
            "i64": pa.array(nulls([(i - n // 2) * 2**44 for i in range(n)]), pa.int64()),
            "f32": pa.array(nulls([i / 7 for i in range(n)]), pa.float32()),
            "f64": pa.array(nulls([-i / 3e300 for i in range(n)]), pa.float64()),
            "flag": pa.array(nulls([i % 2 == 0 for i in range(n)]), pa.bool_()),
            "text": pa.array(nulls([f"ø{i}" * (i % 5) for i in range(n)]), pa.string()),
            "bin": pa.array(nulls([bytes([i % 256]) * (i % 4) for i in range(n)]), pa.binary()),
            "day": pa.array(
                nulls([dt.date(1970, 1, 1) + dt.timedelta(days=i - n // 2) for i in range(n)]),
                pa.date32(),
            ),
            "clock": pa.array(
                nulls([dt.time(i % 24, i % 60, i % 60, i % 1_000_000) for i in range(n)]),
                pa.time64("us"),
            ),
            "ts": pa.array(
                nulls([base + dt.timedelta(seconds=i, microseconds=i) for i in range(n)]),
                pa.timestamp("us"),
            ),
            "tstz": pa.array(
                nulls([base.replace(tzinfo=UTC) - dt.timedelta(hours=i) for i in range(n)]),
                pa.timestamp("us", "UTC"),
            ),
            "dec": pa.array(
                nulls([D(i * 7919 - 10**6).scaleb(-10) * (10**27 + 1) for i in range(n)]),
                pa.decimal128(38, 10),
            ),
            "wide": pa.array(
                nulls([D(-i).scaleb(-5) + D(10) ** 44 for i in range(n)]), pa.decimal256(50, 5)
            ),
            "whole": pa.array(nulls([D(i * 10**15) for i in range(n)]), pa.decimal128(20, 0)),
            "never": pa.array([f"x{i}" for i in range(n)], pa.string()),  # no NULLs at all
        }
    )


def test_every_encodable_type_loads_exactly(
    tmp_path: pathlib.Path, pg_database: Any, read_sql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hygge_sql.backends import adbc

    ingests: list[str] = []
    original = adbc.Connection.ingest
    monkeypatch.setattr(
        adbc.Connection, "ingest", lambda *a, **k: ingests.append("x") or original(*a, **k)
    )
    source = encodable_table()
    path = tmp_path / "in.parquet"
    # Small row groups and batches: several units, batches that are slices of a column.
    pq.write_table(source, path, row_group_size=ROWS // 3)
    for mode in ("replace", "replace"):  # a first load (rename), then staging + publish
        results = FlowHarness(tmp_path).run(
            {
                "f": {
                    "home": {"type": "parquet", "path": str(path), "batch_rows": 20_000},
                    "store": {
                        "type": "sql",
                        "url": pg_database.url,
                        "table": pg_database.table("t"),
                        "mode": mode,
                    },
                }
            }
        )
        assert [r.status for r in results] == ["ok"], results[0].error
        got = read_sql(pg_database.url, pg_database.table("t")).sort_by("id")
        assert got.schema.equals(source.schema), got.schema
        for name in source.column_names:
            assert got.column(name).to_pylist() == source.column(name).to_pylist(), name
    assert ingests == []  # the encoder loaded it all, ADBC none of it
    engine = pg_database.engine()
    with engine.connect() as conn:  # the values as plain SQL sees them, bypassing hygge
        row = conn.execute(
            sa.text(
                f'SELECT i16, day, clock, ts, tstz, bin, text FROM "{pg_database.schema}".t '
                "WHERE id = 6"
            )
        ).one()
    engine.dispose()
    assert row == (
        -32762,
        dt.date(1970, 1, 1) + dt.timedelta(days=6 - ROWS // 2),
        dt.time(6, 6, 6, 6),
        dt.datetime(2000, 1, 1, 0, 0, 6, 5),
        dt.datetime(1999, 12, 31, 17, 59, 59, 999999, tzinfo=UTC),
        b"\x06\x06",
        "ø6",
    )


def _store(database: Any, run_id: str = "run-1") -> SqlStore:
    config = SqlStoreConfig.model_validate(
        {"type": "sql", "url": database.url, "table": database.table("t")}
    )
    return SqlStore(config, FlowContext(flow="f", run_id=run_id, storage=StorageResolver({})))


def _unit(seq: int) -> Any:
    return type("U", (), {"id": f"u{seq}", "seq": seq})()


def _encoders() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "hygge-pg-encode"]


V = pa.table({"id": pa.array([1, 2], pa.int64()), "s": ["a", "b"]})


def test_a_failing_stream_raises_its_own_error_and_loads_nothing(
    pg_database: Any, read_sql: Any
) -> None:
    store = _store(pg_database)
    store.prepare(V.schema)

    def broken() -> Iterator[pa.RecordBatch]:
        yield from V.to_batches()
        raise OSError("the home's file vanished")

    with pytest.raises(OSError, match=r"^the home's file vanished$"):
        store.stage(_unit(0), broken())
    assert _encoders() == []
    # Rolled back, ledger entry included: the unit loads again, once.
    staged = store.stage(_unit(0), iter(V.to_batches()))
    store.commit([staged], FlowState(flow="f"))
    assert read_sql(pg_database.url, pg_database.table("t"))["id"].to_pylist() == [1, 2]


def test_a_value_the_server_refuses_stops_the_encoder(pg_database: Any) -> None:
    store = _store(pg_database)
    store.prepare(V.schema)
    bad = pa.table({"id": pa.array([1], pa.int64()), "s": ["nul \x00 inside"]})
    many = [*V.to_batches()] * 50 + bad.to_batches() + [*V.to_batches()] * 50
    with pytest.raises(PermanentError) as info:
        store.stage(_unit(0), iter(many))
    assert str(info.value).startswith(f"table '{pg_database.table('t')}': ")
    assert 'invalid byte sequence for encoding "UTF8": 0x00' in str(info.value)
    assert _encoders() == []


def test_encodable_types() -> None:
    """Anything else is left to the previous load path (ADBC ingest)."""
    assert pgcopy.encodable(encodable_table().schema)
    assert not pgcopy.encodable(pa.schema([("d", pa.decimal128(10, -2))]))
    assert not pgcopy.encodable(pa.schema([("t", pa.time32("ms"))]))
    assert pgcopy.order(pa.schema([("s", pa.string()), ("n", pa.int64())])) == [1, 0]
    assert pgcopy.encode(pa.record_batch({"n": pa.array([], pa.int64())})).to_pybytes() == b""


def test_hygge_sql_copy_0_loads_through_adbc(
    tmp_path: pathlib.Path, pg_database: Any, read_sql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hygge_sql.backends import adbc

    ingests: list[str] = []
    original = adbc.Connection.ingest
    monkeypatch.setattr(
        adbc.Connection, "ingest", lambda *a, **k: ingests.append("x") or original(*a, **k)
    )
    monkeypatch.setenv("HYGGE_SQL_COPY", "0")
    store = _store(pg_database)
    store.prepare(V.schema)
    staged = store.stage(_unit(0), iter(V.to_batches()))
    store.commit([staged], FlowState(flow="f"))
    assert ingests == ["x"]
    assert read_sql(pg_database.url, pg_database.table("t"))["s"].to_pylist() == ["a", "b"]
