"""Databases for hygge-sql's tests: a SQLite file always; PostgreSQL and MariaDB when
scripts/services.py runs them (HYGGE_TEST_PG_URL, HYGGE_TEST_MYSQL_URL).

Each test gets its own PostgreSQL schema or MariaDB database, dropped afterwards, so tests
never see each other's tables (or another colleague's, on a shared server).
"""

from __future__ import annotations

import os
import pathlib
import secrets
from collections.abc import Iterator

import pyarrow as pa
import pytest
import sqlalchemy as sa

from hygge_core.testing import missing


def service_url(var: str, name: str) -> str:
    """The URL in `var`, else skip (or fail when HYGGE_REQUIRE_SERVICES=1)."""
    url = os.environ.get(var)
    if url:
        return url
    missing(f"{name} not running: start it with `python3 scripts/services.py start` ({var})")


@pytest.fixture
def sqlite_url(tmp_path: pathlib.Path) -> str:
    """A fresh SQLite database file."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def pg_url() -> str:
    """The PostgreSQL server's URL (skips when there is none)."""
    return service_url("HYGGE_TEST_PG_URL", "PostgreSQL")


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A schema of its own for the test, dropped with everything in it afterwards."""
    name = f"hygge_t_{secrets.token_hex(4)}"
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    yield name
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
    engine.dispose()


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A database of its own on the MariaDB server, dropped afterwards."""
    base = sa.make_url(service_url("HYGGE_TEST_MYSQL_URL", "MariaDB"))
    name = f"hygge_t_{secrets.token_hex(4)}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    yield base.set(database=name).render_as_string(hide_password=False)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP DATABASE `{name}`"))
    engine.dispose()


def read_table(url: str, table: str, **options: object) -> pa.Table:
    """Everything a reader of `table` sees, through hygge's own SQL home (whose type mapping
    the tests check separately against raw SQL)."""
    from hygge_sql.home import SqlHome, SqlHomeConfig

    from hygge_core.context import FlowContext
    from hygge_core.storage import StorageResolver

    config = SqlHomeConfig.model_validate({"type": "sql", "url": url, "table": table, **options})
    home = SqlHome(config, FlowContext(flow="read", run_id="read", storage=StorageResolver({})))
    schema = home.schema()
    batches = [b for unit in home.plan(None) for b in home.read(unit)]
    return pa.Table.from_batches(batches, schema=schema)


def table_names(url: str, schema: str | None = None) -> list[str]:
    """The tables in `schema` of the database at `url`."""
    engine = sa.create_engine(url)
    try:
        return sa.inspect(engine).get_table_names(schema=schema)
    finally:
        engine.dispose()


@pytest.fixture
def read_sql() -> object:
    """`read_sql(url, table, **home_options) -> pyarrow.Table`."""
    return read_table


@pytest.fixture
def sql_tables() -> object:
    """`sql_tables(url, schema=None) -> [table names]`."""
    return table_names


class Database:
    """One database under test: its URL, where tables go, and whether ADBC is used."""

    def __init__(self, kind: str, url: str, schema: str | None = None, adbc: bool = True):
        self.kind, self.url, self.schema, self.adbc = kind, url, schema, adbc

    def table(self, name: str) -> str:
        """`name` qualified by the test's schema, as a flows.yaml `table:` value."""
        return f"{self.schema}.{name}" if self.schema else name

    def engine(self) -> sa.Engine:
        """A plain SQLAlchemy engine, for checks that bypass hygge."""
        url = sa.make_url(self.url)
        if url.get_backend_name() == "postgresql" and "+" not in url.drivername:
            url = url.set(drivername="postgresql+psycopg")
        return sa.create_engine(url)

    def __repr__(self) -> str:
        return f"{self.kind}{'' if self.adbc else '-noadbc'}"


DATABASES = ["sqlite", "sqlite-noadbc", "postgres", "postgres-noadbc", "mariadb"]


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Database:
    """Each database in turn (with and without ADBC where hygge uses it)."""
    kind, _, variant = request.param.partition("-")
    adbc = variant != "noadbc"
    if not adbc:
        monkeypatch.setenv("HYGGE_SQL_ADBC", "0")
    if kind == "sqlite":
        return Database(kind, request.getfixturevalue("sqlite_url"), adbc=adbc)
    if kind == "postgres":
        url = request.getfixturevalue("pg_url")
        return Database(kind, url, request.getfixturevalue("pg_schema"), adbc=adbc)
    return Database(kind, request.getfixturevalue("mysql_url"), adbc=False)


@pytest.fixture
def pg_database(pg_url: str, pg_schema: str) -> Database:
    """PostgreSQL (with ADBC), in a schema of the test's own."""
    return Database("postgres", pg_url, pg_schema)


@pytest.fixture
def sqlite_database(sqlite_url: str) -> Database:
    """A fresh SQLite file (with ADBC)."""
    return Database("sqlite", sqlite_url)


@pytest.fixture
def mysql_database(mysql_url: str) -> Database:
    """A MariaDB database of the test's own."""
    return Database("mariadb", mysql_url, adbc=False)
