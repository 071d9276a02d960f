"""hygge-sql passes the plugin contract kit on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import pathlib
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import FlowHarness, HomeContract, StoreContract


class _SqlStore(StoreContract):
    modes: ClassVar[set[str]] = {"append", "replace", "merge"}

    @pytest.fixture(autouse=True)
    def _helpers(self, read_sql: Any, sql_tables: Any) -> None:
        self.read_sql, self.sql_tables = read_sql, sql_tables

    def read_back(self, store_config: dict[str, Any]) -> pa.Table:
        schema, _, name = store_config["table"].rpartition(".")
        if name not in self.sql_tables(store_config["url"], schema or None):
            return self.normalize(self.sample(store_config, rows=0))
        return self.read_sql(store_config["url"], store_config["table"])

    def staging_leftovers(self, store_config: dict[str, Any]) -> list[str]:
        schema = store_config["table"].rpartition(".")[0] or None
        return [n for n in self.sql_tables(store_config["url"], schema) if "_hygge_stg_" in n]


class _SqlHome(HomeContract):
    """Loads the kit's table with hygge's own Parquet → SQL flow, then reads it back."""

    def url(self) -> str:
        raise NotImplementedError

    def table_name(self) -> str:
        return "src"

    def _load(self, table: pa.Table, tmp_path: pathlib.Path, mode: str) -> None:
        harness = FlowHarness(tmp_path / f"load-{mode}-{table.num_rows}")
        harness.root.mkdir(parents=True, exist_ok=True)
        path = harness.root / "load.parquet"
        pq.write_table(table, path)
        store = {"type": "sql", "url": self.url(), "table": self.table_name(), "mode": mode}
        harness.run_ok({"load": {"home": {"type": "parquet", "path": str(path)}, "store": store}})

    def home_config(self, table: pa.Table, tmp_path: pathlib.Path) -> dict[str, Any]:
        self._load(table, tmp_path, "replace")
        return {
            "type": "sql",
            "url": self.url(),
            "table": self.table_name(),
            "split": {"column": "id", "units": 3},
        }

    def append_rows(self, config: dict[str, Any], table: pa.Table, tmp_path: pathlib.Path) -> None:
        self._load(table, tmp_path, "append")


class TestSqliteStore(_SqlStore):
    @pytest.fixture
    def store_config(self, sqlite_url: str) -> dict[str, Any]:
        return {"type": "sql", "url": sqlite_url, "table": "t"}


class TestSqliteHome(_SqlHome):
    @pytest.fixture(autouse=True)
    def _db(self, sqlite_url: str) -> None:
        self._url = sqlite_url

    def url(self) -> str:
        return self._url


@pytest.mark.services
class TestPostgresStore(_SqlStore):
    @pytest.fixture
    def store_config(self, pg_url: str, pg_schema: str) -> dict[str, Any]:
        return {"type": "sql", "url": pg_url, "table": f"{pg_schema}.t"}


@pytest.mark.services
class TestPostgresHome(_SqlHome):
    @pytest.fixture(autouse=True)
    def _db(self, pg_url: str, pg_schema: str) -> None:
        self._url, self._schema = pg_url, pg_schema

    def url(self) -> str:
        return self._url

    def table_name(self) -> str:
        return f"{self._schema}.src"


class _Mariadb:
    """MariaDB's DATETIME has no zone: hygge stores the UTC wall time (documented)."""

    def normalize(self, table: pa.Table) -> pa.Table:
        if "timestamp_tz" in table.column_names:
            i = table.column_names.index("timestamp_tz")
            table = table.set_column(i, "timestamp_tz", table.column(i).cast(pa.timestamp("us")))
        return table


@pytest.mark.services
class TestMariadbStore(_Mariadb, _SqlStore):
    @pytest.fixture
    def store_config(self, mysql_url: str) -> dict[str, Any]:
        return {"type": "sql", "url": mysql_url, "table": "t"}


@pytest.mark.services
class TestMariadbHome(_Mariadb, _SqlHome):
    @pytest.fixture(autouse=True)
    def _db(self, mysql_url: str) -> None:
        self._url = mysql_url

    def url(self) -> str:
        return self._url
