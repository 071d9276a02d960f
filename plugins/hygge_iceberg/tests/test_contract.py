"""hygge-iceberg runs the kit: the store and the home as every plugin must behave."""

from __future__ import annotations

import pathlib
from typing import Any

import pyarrow as pa
import pytest
from hygge_iceberg.store import IcebergStore
from pyiceberg.catalog.sql import SqlCatalog

from hygge_core.testing import HomeContract, StoreContract


def catalog(warehouse: pathlib.Path) -> SqlCatalog:
    warehouse.mkdir(parents=True, exist_ok=True)
    return SqlCatalog(
        "hygge", uri=f"sqlite:///{warehouse}/catalog.db", warehouse=f"file://{warehouse}"
    )


class TestIcebergStore(StoreContract):
    @pytest.fixture
    def store_config(self, tmp_path: pathlib.Path) -> dict[str, Any]:
        return {
            "type": "iceberg",
            "warehouse": str(tmp_path / "wh"),
            "table": "lake.t",
            "keys": ["id"],
        }

    def read_back(self, store_config: dict[str, Any]) -> pa.Table:
        cat = catalog(pathlib.Path(store_config["warehouse"]))
        if not cat.table_exists("lake.t"):
            return self.table(rows=0, type_name="iceberg")
        got = cat.load_table("lake.t").scan().to_arrow()
        # pyiceberg reads text and bytes as their large Arrow variants: the same values.
        plain = {pa.large_string(): pa.string(), pa.large_binary(): pa.binary()}
        return got.cast(pa.schema([f.with_type(plain.get(f.type, f.type)) for f in got.schema]))

    def staging_leftovers(self, store_config: dict[str, Any]) -> list[str]:
        store = self.make_store(store_config, "append")
        assert isinstance(store, IcebergStore)
        return store.leftovers()


class TestIcebergHome(HomeContract):
    def home_config(self, table: pa.Table, tmp_path: pathlib.Path) -> dict[str, Any]:
        cat = catalog(tmp_path / "home")
        cat.create_namespace_if_not_exists("src")
        if cat.table_exists("src.t"):
            cat.purge_table("src.t")
        t = cat.create_table("src.t", schema=table.schema)
        third = -(-table.num_rows // 3)
        for i in range(3):  # three appends, three data files: one unit each
            t.append(table.slice(i * third, third))
        return {"type": "iceberg", "warehouse": str(tmp_path / "home"), "table": "src.t"}

    def append_rows(self, config: dict[str, Any], table: pa.Table, tmp_path: pathlib.Path) -> None:
        catalog(pathlib.Path(config["warehouse"])).load_table("src.t").append(table)
