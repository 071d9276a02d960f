"""hygge-parquet runs the kit it is the reference for."""

from __future__ import annotations

import pathlib
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import HomeContract, StoreContract


class TestParquetStore(StoreContract):
    modes = {"append", "replace"}

    @pytest.fixture
    def store_config(self, tmp_path: pathlib.Path) -> dict[str, Any]:
        return {"type": "parquet", "path": str(tmp_path / "lake" / "t")}

    def read_back(self, store_config: dict[str, Any]) -> pa.Table:
        path = pathlib.Path(store_config["path"])
        if not path.exists() or not any(path.glob("*.parquet")):
            return self.table(rows=0)
        return pq.read_table(path)


class TestParquetHome(HomeContract):
    def home_config(self, table: pa.Table, tmp_path: pathlib.Path) -> dict[str, Any]:
        folder = tmp_path / "home"
        folder.mkdir(exist_ok=True)
        pq.write_table(table, folder / "a.parquet", row_group_size=100)
        return {"type": "parquet", "path": str(folder), "unit_rows": 200}

    def append_rows(self, config: dict[str, Any], table: pa.Table, tmp_path: pathlib.Path) -> None:
        pq.write_table(table, pathlib.Path(config["path"]) / "b.parquet", row_group_size=100)
