"""What `hygge run` says when a database says no: one line naming the flow and the table,
exit 1, no secret, no traceback, and nothing published."""

from __future__ import annotations

import os
import pathlib
import secrets
import subprocess
import sys
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml

HYGGE = str(pathlib.Path(sys.executable).with_name("hygge"))


def hygge_run(
    tmp_path: pathlib.Path, flows: dict[str, Any], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "flows.yaml"
    path.write_text(yaml.safe_dump({"flows": flows}, sort_keys=False))
    return subprocess.run(
        [HYGGE, "run", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
    )


def failure(done: subprocess.CompletedProcess[str], flow: str) -> str:
    """The one FAILED line of `flow` (checks exit code 1 and no traceback)."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith(f"[{flow}] FAILED: ")]
    assert len(lines) == 1, done.stderr
    return lines[0].removeprefix(f"[{flow}] FAILED: ")


def parquet(tmp_path: pathlib.Path, table: pa.Table) -> str:
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)
    return str(path)


SOURCE = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["ab", "toolong", "c"]})


@pytest.mark.services
def test_unreachable_server(tmp_path: pathlib.Path, pg_url: str) -> None:
    """Refused connections are retried (they may be a restarting server), then reported."""
    url = sa.make_url(pg_url).set(port=9).render_as_string(hide_password=False)
    done = hygge_run(
        tmp_path,
        {
            "read": {
                "home": {"type": "sql", "url": url, "table": "src"},
                "store": "out/",
                "retry": {"attempts": 2, "initial": 0.1},
            }
        },
    )
    assert failure(done, "read") == (
        "table 'src': connection to server at \"127.0.0.1\", port 9 failed: Connection refused"
    )
    assert "[read] attempt 1 of 2 failed" in done.stderr


def test_unparsable_url_is_a_config_error(tmp_path: pathlib.Path) -> None:
    done = hygge_run(
        tmp_path,
        {
            "load": {
                "home": parquet(tmp_path, SOURCE),
                "store": {"type": "sql", "url": "db", "table": "t"},
            }
        },
    )
    assert done.returncode == 2
    assert "flow 'load' → store → field 'url': not a SQLAlchemy database URL" in (done.stderr)


@pytest.mark.services
def test_missing_database_is_not_retried(tmp_path: pathlib.Path, pg_url: str) -> None:
    url = sa.make_url(pg_url).set(database="no_such_db").render_as_string(hide_password=False)
    done = hygge_run(
        tmp_path,
        {"read": {"home": {"type": "sql", "url": url, "table": "src"}, "store": "out/"}},
    )
    port = sa.make_url(pg_url).port
    assert failure(done, "read") == (
        f"table 'src': connection to server at \"127.0.0.1\", port {port} failed: "
        'database "no_such_db" does not exist'
    )
    assert "attempt 1 of" not in done.stderr


@pytest.mark.services
def test_wrong_password(tmp_path: pathlib.Path, mysql_url: str) -> None:
    base = sa.make_url(mysql_url)
    user, right = f"hygge_{secrets.token_hex(3)}", "R1ght-pw"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{right}'"))
    try:
        wrong = base.set(username=user, password="wr0ng-Secret").render_as_string(
            hide_password=False
        )
        done = hygge_run(
            tmp_path,
            {
                "load": {
                    "home": parquet(tmp_path, SOURCE),
                    "store": {"type": "sql", "url": wrong, "table": "t"},
                }
            },
        )
        assert failure(done, "load") == (
            f"table 't': Access denied for user '{user}'@'localhost' (using password: YES)"
        )
        assert "wr0ng-Secret" not in done.stdout + done.stderr
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP USER '{user}'@'%'"))
        engine.dispose()


def test_missing_table(tmp_path: pathlib.Path, sqlite_url: str) -> None:
    done = hygge_run(
        tmp_path,
        {"read": {"home": {"type": "sql", "url": sqlite_url, "table": "nope"}, "store": "out/"}},
    )
    assert "does not exist" in failure(done, "read")
    done = hygge_run(
        tmp_path,
        {
            "read": {
                "home": {"type": "sql", "url": f"sqlite:///{tmp_path / 'x.db'}", "table": "t"},
                "store": "out/",
            }
        },
    )
    assert failure(done, "read") == (
        f"table 't': the SQLite database file {tmp_path / 'x.db'} does not exist"
    )


def _existing(database: Any, ddl: str) -> None:
    engine = database.engine()
    with engine.begin() as conn:
        conn.execute(sa.text(ddl))
        conn.execute(sa.text(f"INSERT INTO {database.table('t')} VALUES (0, 'old')"))
    engine.dispose()


def _rows(database: Any) -> list[tuple[Any, ...]]:
    engine = database.engine()
    with engine.connect() as conn:
        found = conn.execute(sa.text(f"SELECT * FROM {database.table('t')}")).all()
        names = sa.inspect(conn).get_table_names(schema=database.schema)
    engine.dispose()
    assert not [n for n in names if n.startswith("_hygge_stg_")], names
    return [tuple(r) for r in found]


@pytest.mark.services
def test_value_the_target_cannot_hold_postgres(tmp_path: pathlib.Path, pg_database: Any) -> None:
    _existing(pg_database, f"CREATE TABLE {pg_database.table('t')} (id bigint, name varchar(3))")
    done = hygge_run(
        tmp_path,
        {
            "load": {
                "home": parquet(tmp_path, SOURCE),
                "store": {
                    "type": "sql",
                    "url": pg_database.url,
                    "table": pg_database.table("t"),
                    "mode": "replace",
                },
            }
        },
    )
    assert failure(done, "load") == (
        f"table '{pg_database.table('t')}': value too long for type character varying(3)"
    )
    assert _rows(pg_database) == [(0, "old")]


def test_value_the_target_cannot_hold_sqlite(tmp_path: pathlib.Path, sqlite_database: Any) -> None:
    _existing(sqlite_database, "CREATE TABLE t (id BIGINT, name TEXT NOT NULL)")
    source = pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["a", None]})
    done = hygge_run(
        tmp_path,
        {
            "load": {
                "home": parquet(tmp_path, source),
                "store": {"type": "sql", "url": sqlite_database.url, "table": "t"},
            }
        },
    )
    assert failure(done, "load") == "table 't': NOT NULL constraint failed: t.name"
    assert _rows(sqlite_database) == [(0, "old")]


def test_value_that_cannot_be_converted(tmp_path: pathlib.Path, sqlite_database: Any) -> None:
    """A uint64 beyond what SQLite's integers hold is refused at staging, by column."""
    source = pa.table({"n": pa.array([1, 2**64 - 1], pa.uint64()), "t": pa.array([1, 2])})
    source = source.append_column(
        "ns", pa.array([0, 1], pa.timestamp("ns"))
    )  # nanoseconds do not fit microsecond columns
    done = hygge_run(
        tmp_path,
        {
            "load": {
                "home": parquet(tmp_path, source),
                "store": {"type": "sql", "url": sqlite_database.url, "table": "u"},
            }
        },
    )
    message = failure(done, "load")
    assert message.startswith(
        "table 'u': column 'ns': cannot convert timestamp[ns] to timestamp[us]"
    )


def test_missing_driver_names_the_extra(tmp_path: pathlib.Path) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "psycopg.py").write_text("raise ImportError('psycopg is not installed here')\n")
    done = hygge_run(
        tmp_path,
        {
            "load": {
                "home": parquet(tmp_path, SOURCE),
                "store": {"type": "sql", "url": "postgresql://u@127.0.0.1/db", "table": "t"},
            }
        },
        env={"PYTHONPATH": str(shim)},
    )
    assert failure(done, "load") == (
        "table 't': the postgresql driver 'psycopg' is not installed; "
        "install it: pip install 'hygge-sql[postgres]'"
    )


@pytest.mark.services
def test_a_lost_connection_is_retried(tmp_path: pathlib.Path, pg_database: Any) -> None:
    """The server ends hygge's session mid-read (as a restart would): the attempt fails as a
    transient fault, is retried, and the flow lands every row once."""
    import threading
    import time

    table = pg_database.table("src")
    engine = pg_database.engine()
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {table} AS SELECT g AS id, md5(g::text) AS s "
                "FROM generate_series(1, 2000000) AS g"
            )
        )
    killed: list[int] = []

    def terminate() -> None:
        deadline = time.monotonic() + 60
        with engine.connect() as conn:
            while not killed and time.monotonic() < deadline:
                pids = (
                    conn.execute(
                        sa.text(
                            "SELECT pid FROM pg_stat_activity WHERE state = 'active' "
                            "AND query LIKE 'COPY (SELECT%' AND query LIKE '%' || :t || '%'"
                        ),
                        {"t": pg_database.schema},
                    )
                    .scalars()
                    .all()
                )
                for pid in pids:
                    conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
                    killed.append(pid)
                conn.rollback()
                time.sleep(0.01)

    killer = threading.Thread(target=terminate)
    killer.start()
    done = hygge_run(
        tmp_path,
        {
            "read": {
                "home": {"type": "sql", "url": pg_database.url, "table": table},
                "store": {"type": "parquet", "path": str(tmp_path / "out"), "mode": "replace"},
                "retry": {"attempts": 3, "initial": 0.2},
            }
        },
    )
    killer.join()
    engine.dispose()
    assert killed, "the read finished before it could be interrupted"
    assert done.returncode == 0, done.stderr
    assert "[read] attempt 1 of 3 failed (table" in done.stderr, done.stderr
    got = pq.read_table(tmp_path / "out")
    assert got.num_rows == 2_000_000 and len(set(got["id"].to_pylist())) == 2_000_000


def test_a_value_of_the_wrong_kind_in_sqlite(tmp_path: pathlib.Path) -> None:
    """SQLite lets an INTEGER column hold text; reading it as int64 fails, naming both."""
    import sqlite3

    db = sqlite3.connect(tmp_path / "mixed.db")
    db.execute("CREATE TABLE m (id INTEGER, v INTEGER)")
    db.executemany("INSERT INTO m VALUES (?, ?)", [(1, 1), (2, "x")])
    db.commit()
    db.close()
    done = hygge_run(
        tmp_path,
        {
            "mixed": {
                "home": {"type": "sql", "url": f"sqlite:///{tmp_path / 'mixed.db'}", "table": "m"},
                "store": "out/",
            }
        },
    )
    assert failure(done, "mixed").startswith(
        "table 'm': column 'v': cannot convert string to int64"
    )


# ---- names PostgreSQL would cut or refuse (issue 21, point 12) ---------------------------

SOURCE_ID = pa.table({"id": pa.array([1, 2, 3], pa.int64())})


def tables(pg_url: str, schema: str) -> list[str]:
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            return sorted(sa.inspect(conn).get_table_names(schema=schema))
    finally:
        engine.dispose()


@pytest.mark.services
def test_table_name_over_63_bytes(tmp_path: pathlib.Path, pg_url: str, pg_schema: str) -> None:
    name = "t" * 64
    flows = {
        "load": {
            "home": parquet(tmp_path, SOURCE_ID),
            "store": {"type": "sql", "url": pg_url, "table": f"{pg_schema}.{name}"},
        }
    }
    for _ in range(2):  # it used to work once, then fail "already exists" forever
        done = hygge_run(tmp_path, flows)
        assert failure(done, "load") == (
            f"table '{pg_schema}.{name}': the table name '{'t' * 63}…' is 64 bytes; "
            "postgresql allows 63: use a shorter name"
        )
    assert tables(pg_url, pg_schema) == []


@pytest.mark.services
def test_63_bytes_is_fine_and_reruns(tmp_path: pathlib.Path, pg_url: str, pg_schema: str) -> None:
    name = "é" * 31 + "t"  # 63 bytes in UTF-8
    flows = {
        "load": {
            "home": parquet(tmp_path, SOURCE_ID),
            "store": {"type": "sql", "url": pg_url, "table": f"{pg_schema}.{name}"},
        }
    }
    for _ in range(2):
        done = hygge_run(tmp_path, flows)
        assert done.returncode == 0, done.stderr
    assert name in tables(pg_url, pg_schema)


@pytest.mark.services
def test_missing_schema_is_named(tmp_path: pathlib.Path, pg_url: str) -> None:
    done = hygge_run(
        tmp_path,
        {
            "load": {
                "home": parquet(tmp_path, SOURCE_ID),
                "store": {"type": "sql", "url": pg_url, "table": "nosuch_hygge_schema.tbl"},
            }
        },
    )
    assert failure(done, "load") == (
        "table 'nosuch_hygge_schema.tbl': schema 'nosuch_hygge_schema' does not exist; hygge "
        "creates tables, not schemas: create it (CREATE SCHEMA nosuch_hygge_schema) or fix table:"
    )


@pytest.mark.services
def test_empty_column_name(tmp_path: pathlib.Path, pg_url: str, pg_schema: str) -> None:
    source = pa.table({"id": [1, 2], "": ["a", "b"]})
    done = hygge_run(
        tmp_path,
        {
            "load": {
                "home": parquet(tmp_path, source),
                "store": {"type": "sql", "url": pg_url, "table": f"{pg_schema}.t"},
            }
        },
    )
    assert failure(done, "load") == (
        f"table '{pg_schema}.t': column 2 of the home has an empty name; a database column "
        "needs one: name it in the home (a CSV header, a query's AS)"
    )
    assert tables(pg_url, pg_schema) == []


@pytest.mark.services
def test_column_name_over_63_bytes(tmp_path: pathlib.Path, pg_url: str, pg_schema: str) -> None:
    source = pa.table({"c" * 70: [1]})
    done = hygge_run(
        tmp_path,
        {
            "load": {
                "home": parquet(tmp_path, source),
                "store": {"type": "sql", "url": pg_url, "table": f"{pg_schema}.t"},
            }
        },
    )
    assert failure(done, "load") == (
        f"table '{pg_schema}.t': the column name '{'c' * 63}…' is 70 bytes; postgresql "
        "allows 63: use a shorter name"
    )


def test_sqlite_schemas(tmp_path: pathlib.Path) -> None:
    """A SQLite file has one schema, `main` (issue 21, point 13): `main.x` is the table
    `x`; any other schema is refused naming the table and the fix, not a driver error."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    source = parquet(tmp_path, SOURCE)
    done = hygge_run(
        tmp_path,
        {
            "load": {"home": source, "store": {"type": "sql", "url": url, "table": "main.x"}},
        },
    )
    assert done.returncode == 0, done.stderr
    done = hygge_run(
        tmp_path, {"read": {"home": {"type": "sql", "url": url, "table": "main.x"}, "store": "o/"}}
    )
    assert done.returncode == 0, done.stderr
    assert pq.read_table(tmp_path / "o").sort_by("id").equals(SOURCE)
    for side in ("home", "store"):
        other = {"type": "sql", "url": url, "table": "nosuchschema.x"}
        flow = (
            {"home": other, "store": "out2/"}
            if side == "home"
            else {"home": source, "store": other}
        )
        done = hygge_run(tmp_path, {"bad": flow})
        assert failure(done, "bad") == (
            "table 'nosuchschema.x': a SQLite database has no schema 'nosuchschema': its "
            "tables live in 'main'; write table: x"
        )
