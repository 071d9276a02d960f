"""hygge-delta runs the kit: the store and the home as every plugin must behave."""

from __future__ import annotations

import pathlib
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from hygge_delta.store import DeltaStore

from hygge_core.testing import HomeContract, StoreContract


class TestDeltaStore(StoreContract):
    @pytest.fixture
    def store_config(self, tmp_path: pathlib.Path) -> dict[str, Any]:
        return {"type": "delta", "path": str(tmp_path / "lake" / "t"), "keys": ["id"]}

    def read_back(self, store_config: dict[str, Any]) -> pa.Table:
        path = store_config["path"]
        if not DeltaTable.is_deltatable(path):
            return self.table(rows=0, type_name="delta")
        return DeltaTable(path).to_pyarrow_table()

    def staging_leftovers(self, store_config: dict[str, Any]) -> list[str]:
        # Delta stages data files in place; what no commit references is a leftover.
        store = self.make_store(store_config, "append")
        assert isinstance(store, DeltaStore)
        return store.leftovers() + super().staging_leftovers(store_config)


class TestDeltaHome(HomeContract):
    def home_config(self, table: pa.Table, tmp_path: pathlib.Path) -> dict[str, Any]:
        path = tmp_path / "home" / "t"
        # Three commits, three data files: a Delta table is many files, one unit each.
        third = -(-table.num_rows // 3)
        for i in range(3):
            write_deltalake(str(path), table.slice(i * third, third), mode="append")
        return {"type": "delta", "path": str(path)}

    def append_rows(self, config: dict[str, Any], table: pa.Table, tmp_path: pathlib.Path) -> None:
        write_deltalake(config["path"], table, mode="append")
