"""Every type round-trips exactly: Parquet → database → Parquet gives back identical Arrow data.

SQLite and MariaDB hold a documented subset (see docs/sql.md); what they cannot hold is
checked to come back in its documented form. Raw SQL checks confirm the columns hygge
creates and the values it stores, so the tests do not only trust hygge's own reader.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import pathlib
import sqlite3
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from hygge_core.testing import FlowHarness

UTC = dt.UTC
D = decimal.Decimal


def every_type() -> pa.Table:
    """One row per interesting value: extremes, unicode, '' beside NULL, and a row of NULLs."""
    ts = [
        dt.datetime(2024, 3, 1, 12, 0, 0, 123456),
        dt.datetime(1970, 1, 1),
        dt.datetime(2999, 12, 31, 23, 59, 59, 999999),
        None,
        dt.datetime(2000, 2, 29, 0, 0, 0, 1),
    ]
    return pa.table(
        {
            "id": pa.array([1, 2, 3, 4, 5], pa.int64()),
            "i16": pa.array([-32768, 0, 32767, None, 7], pa.int16()),
            "i32": pa.array([-(2**31), 0, 2**31 - 1, None, 7], pa.int32()),
            "i64": pa.array([-(2**63), 0, 2**63 - 1, None, 7], pa.int64()),
            "f32": pa.array([1.5, -0.0, 3.4028234663852886e38, None, 1e-30], pa.float32()),
            "f64": pa.array([1.0 / 3, -2.5e-300, 1.7976931348623157e308, None, 0.1], pa.float64()),
            "dec": pa.array(
                [
                    D("1234567890123456789012345678.9012345678"),
                    D("-9999999999999999999999999999.9999999999"),
                    D("0.0000000001"),
                    None,
                    D("0E-10"),
                ],
                pa.decimal128(38, 10),
            ),
            "flag": pa.array([True, False, True, None, False]),
            "text": pa.array(["sø 日本 naïve café 🎉", "", "x" * 5000, None, "a'b\"c;--"]),
            "day": pa.array(
                [dt.date(2024, 3, 1), dt.date(1, 1, 1), dt.date(9999, 12, 31), None, None],
                pa.date32(),
            ),
            "clock": pa.array(
                [
                    dt.time(12, 34, 56, 123456),
                    dt.time(0, 0),
                    dt.time(23, 59, 59, 999999),
                    None,
                    dt.time(0, 0, 0, 1),
                ],
                pa.time64("us"),
            ),
            "ts": pa.array(ts, pa.timestamp("us")),
            "tstz": pa.array(
                [t.replace(tzinfo=UTC) if t else None for t in ts], pa.timestamp("us", "UTC")
            ),
            "bin": pa.array([b"\x00\x01\xff", b"", b"hygge", None, bytes(range(256))]),
        }
    )


def expected(kind: str, table: pa.Table) -> pa.Table:
    """`table` as it reads back from database `kind`: MariaDB's DATETIME has no zone, so a
    zoned timestamp comes back as its UTC wall time (documented in docs/sql.md)."""
    if kind == "mariadb":
        i = table.column_names.index("tstz")
        table = table.set_column(i, "tstz", table.column(i).cast(pa.timestamp("us")))
    return table


def run_round_trip(tmp_path: pathlib.Path, database: Any, table: pa.Table) -> pa.Table:
    """Parquet → database (hygge creates the table) → Parquet; returns what landed."""
    harness = FlowHarness(tmp_path)
    source = tmp_path / "every.parquet"
    pq.write_table(table, source)
    target = database.table("every")
    store = {"type": "sql", "url": database.url, "table": target, "mode": "replace"}
    if database.kind == "sqlite":
        store["lossy_floats"] = True  # its -0.0 reads back as 0.0 (equal in Arrow)
    harness.run_ok({"load": {"home": {"type": "parquet", "path": str(source)}, "store": store}})
    harness.run_ok(
        {
            "unload": {
                "home": {"type": "sql", "url": database.url, "table": target},
                "store": {"type": "parquet", "path": str(tmp_path / "out"), "mode": "replace"},
            }
        }
    )
    return pq.read_table(tmp_path / "out").sort_by("id")


def test_every_type_round_trips(
    tmp_path: pathlib.Path, database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    if database.kind in ("sqlite", "postgres"):
        from hygge_sql.backends import adbc

        name = f"connect_{database.kind.replace('postgres', 'postgresql')}"
        original = getattr(adbc, name)
        monkeypatch.setattr(adbc, name, lambda *a, **k: calls.append("c") or original(*a, **k))
    source = every_type()
    got = run_round_trip(tmp_path, database, source)
    # The fast path is what runs when ADBC is there (one load and one read), and only then;
    # PostgreSQL loads through hygge's own COPY encoder, so it reads only through ADBC.
    fast = {"sqlite": 2, "postgres": 1}.get(database.kind, 0)
    assert len(calls) == (fast if database.adbc else 0)
    want = expected(database.kind, source)
    assert got.schema.equals(want.schema), f"schema got {got.schema}\nwant {want.schema}"
    for name in want.column_names:
        assert got.column(name).to_pylist() == want.column(name).to_pylist(), name
    assert got.equals(want)


def test_created_columns_and_stored_values(tmp_path: pathlib.Path, database: Any) -> None:
    """The columns hygge creates, and the values as plain SQL sees them."""
    run_round_trip(tmp_path, database, every_type())
    engine = database.engine()
    with engine.connect() as conn:
        if database.kind == "postgres":
            types = dict(
                conn.execute(
                    sa.text(
                        "SELECT column_name, format_type(atttypid, atttypmod) FROM "
                        "information_schema.columns c JOIN pg_attribute a ON "
                        "a.attrelid = to_regclass(:t) AND a.attname = c.column_name "
                        "WHERE table_schema = :s AND table_name = 'every'"
                    ),
                    {"t": database.table("every"), "s": database.schema},
                ).all()
            )
            assert types == {
                "id": "bigint",
                "i16": "smallint",
                "i32": "integer",
                "i64": "bigint",
                "f32": "real",
                "f64": "double precision",
                "dec": "numeric(38,10)",
                "flag": "boolean",
                "text": "text",
                "day": "date",
                "clock": "time without time zone",
                "ts": "timestamp without time zone",
                "tstz": "timestamp with time zone",
                "bin": "bytea",
            }
            table = database.table("every")
            row = conn.execute(
                sa.text(f"SELECT dec::text, tstz AT TIME ZONE 'UTC' FROM {table} WHERE id = 1")
            ).one()
            assert row == (
                "1234567890123456789012345678.9012345678",
                dt.datetime(2024, 3, 1, 12, 0, 0, 123456),
            )
        elif database.kind == "sqlite":
            info = sa.text("SELECT name, type FROM pragma_table_info('every')")
            declared = dict(conn.execute(info).all())
            assert declared == {
                "id": "BIGINT",
                "i16": "SMALLINT",
                "i32": "INT",
                "i64": "BIGINT",
                "f32": "FLOAT4",
                "f64": "REAL",
                "dec": "DECIMAL_TEXT(38, 10)",
                "flag": "BOOLEAN",
                "text": "TEXT",
                "day": "DATE",
                "clock": "TIME",
                "ts": "TIMESTAMP",
                "tstz": "TIMESTAMPTZ",
                "bin": "BLOB",
            }
            row = conn.execute(
                sa.text("SELECT dec, typeof(dec), ts, tstz, clock, day, flag FROM every WHERE id=1")
            ).one()
            assert row == (
                "1234567890123456789012345678.9012345678",
                "text",
                "2024-03-01 12:00:00.123456",
                "2024-03-01 12:00:00.123456Z",
                "12:34:56.123456",
                "2024-03-01",
                1,
            )
        else:
            types = dict(
                conn.execute(
                    sa.text(
                        "SELECT column_name, column_type FROM information_schema.columns "
                        "WHERE table_schema = DATABASE() AND table_name = 'every'"
                    )
                ).all()
            )
            assert types == {
                "id": "bigint(20)",
                "i16": "smallint(6)",
                "i32": "int(11)",
                "i64": "bigint(20)",
                "f32": "float",
                "f64": "double",
                "dec": "decimal(38,10)",
                "flag": "tinyint(1)",
                "text": "longtext",
                "day": "date",
                "clock": "time(6)",
                "ts": "datetime(6)",
                "tstz": "datetime(6)",
                "bin": "longblob",
            }
            raw = sa.text("SELECT CAST(`dec` AS CHAR), text FROM every WHERE id = 1")
            row = conn.execute(raw).one()
            assert row == ("1234567890123456789012345678.9012345678", "sø 日本 naïve café 🎉")
    engine.dispose()


@pytest.mark.services
def test_postgres_types_without_an_arrow_twin_travel_as_text(
    tmp_path: pathlib.Path, pg_url: str, pg_schema: str
) -> None:
    """json, jsonb, uuid, interval, enums and unconstrained numeric: loaded from text into
    an existing table (cast on publish), read back as the same text."""
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TYPE {pg_schema}.mood AS ENUM ('sad', 'happy')"))
        conn.execute(
            sa.text(
                f"CREATE TABLE {pg_schema}.other (id bigint PRIMARY KEY, j json, jb jsonb, "
                f"u uuid, iv interval, n numeric, v varchar(10), m {pg_schema}.mood)"
            )
        )
    source = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "j": ['{"a":1,  "b":[1,2]}', None],
            "jb": ['{"a": 1, "b": [1, 2]}', None],
            "u": ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", None],
            "iv": ["1 day 02:00:00", None],
            "n": ["3.14159265358979323846264338327950288419716939937510", None],
            "v": ["sø", None],
            "m": ["happy", None],
        }
    )
    pq.write_table(source, tmp_path / "other.parquet")
    harness = FlowHarness(tmp_path)
    target = f"{pg_schema}.other"
    harness.run_ok(
        {
            "load": {
                "home": {"type": "parquet", "path": str(tmp_path / "other.parquet")},
                "store": {"type": "sql", "url": pg_url, "table": target},
            },
        }
    )
    harness.run_ok(
        {
            "unload": {
                "home": {"type": "sql", "url": pg_url, "table": target},
                "store": {"type": "parquet", "path": str(tmp_path / "out")},
            }
        }
    )
    got = pq.read_table(tmp_path / "out").sort_by("id")
    assert got.equals(source), got.to_pylist()
    with engine.connect() as conn:
        row = conn.execute(sa.text(f"SELECT jb -> 'b' ->> 1, u, m::text FROM {target}")).first()
    assert row is not None and row[0] == "2" and str(row[1]) == source["u"][0].as_py()
    engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgres", "mariadb"])
def test_query_columns_keep_their_types(
    tmp_path: pathlib.Path, request: pytest.FixtureRequest, kind: str
) -> None:
    """`query:` reads carry the types of the columns they select; expressions get the type
    the database gives them."""
    if kind == "sqlite":
        url, table = request.getfixturevalue("sqlite_url"), "every"
    elif kind == "postgres":
        url = request.getfixturevalue("pg_url")
        table = f"{request.getfixturevalue('pg_schema')}.every"
    else:
        url, table = request.getfixturevalue("mysql_url"), "every"
    db = type("Db", (), {"url": url, "table": lambda self, n: table, "kind": kind})()
    (tmp_path / "load").mkdir()
    run_round_trip(tmp_path / "load", db, every_type())
    harness = FlowHarness(tmp_path)
    q = "`" if kind == "mariadb" else '"'  # `dec` is a keyword there
    query = f"SELECT id, {q}dec{q}, ts, i16, text AS t2 FROM {table} WHERE id <> 4 -- ':x' 50%"
    harness.run_ok(
        {
            "q": {
                "home": {"type": "sql", "url": url, "query": query + "\n;"},
                "store": {"type": "parquet", "path": str(tmp_path / "q")},
            }
        }
    )
    got = pq.read_table(tmp_path / "q").sort_by("id")
    want = every_type().filter(pa.compute.not_equal(every_type()["id"], 4))
    assert got.schema.names == ["id", "dec", "ts", "i16", "t2"]
    assert got["dec"].type == pa.decimal128(38, 10)
    assert got["ts"].type == pa.timestamp("us")
    assert got["dec"].to_pylist() == want["dec"].to_pylist()
    assert got["ts"].to_pylist() == want["ts"].to_pylist()
    assert got["t2"].to_pylist() == want["text"].to_pylist()
    assert got["i16"].to_pylist() == want["i16"].to_pylist()


@pytest.mark.parametrize(
    ("values", "what", "row"),
    [([1.5, float("nan"), None], "NaN", 2), ([1.5, 2.0, -0.0], "-0.0", 3)],
)
def test_sqlite_refuses_floats_it_would_change(
    tmp_path: pathlib.Path, values: list[float | None], what: str, row: int
) -> None:
    harness = FlowHarness(tmp_path)
    table = pa.table({"id": [1, 2, 3], "x": pa.array(values, pa.float64())})
    url = f"sqlite:///{tmp_path}/db.sqlite"
    home = harness.parquet_source(table)
    store = {"type": "sql", "url": url, "table": "t", "mode": "replace"}
    (result,) = harness.run({"f": {"home": home, "store": store}})
    stored = "NULL" if what == "NaN" else "0.0"
    assert result.status == "failed"
    assert result.error == (
        f"table 't': column 'x' holds {what} (row {row} of this work unit), which sqlite "
        f"would store as {stored}. hint: set lossy_floats: true on the store to accept "
        "that, or replace the value in the home"
    )
    db = str(tmp_path / "db.sqlite")
    with contextlib.closing(sqlite3.connect(db)) as conn:  # nothing published or left
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert names == ["_hygge_state"]

    # Accepted when asked for: NaN is NULL, -0.0 is 0.0, infinities stay.
    table = table.append_column("inf", pa.array([float("inf"), float("-inf"), None]))
    home = harness.parquet_source(table, "again")
    harness.run_ok({"f": {"home": home, "store": {**store, "lossy_floats": True}}})
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT x, inf FROM t ORDER BY id").fetchall()
    xs = [r[0] for r in rows]
    assert xs == [1.5, None, None] if what == "NaN" else xs == [1.5, 2.0, 0.0]
    assert [r[1] for r in rows] == [float("inf"), float("-inf"), None]
