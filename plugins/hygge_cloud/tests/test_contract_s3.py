"""The plugin contract kit, run with the Parquet plugin on S3 (moto).

hygge-parquet has no cloud code of its own: this proves that a file plugin passes every
check of `hygge_core.testing` on an object store — crash at every fault point included —
through hygge-cloud's storage alone. No `connection:` is named, so the default AWS chain
(environment variables) is what signs the requests, as the kit's own contexts need.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from hygge_core.testing import HomeContract, StoreContract

pytestmark = pytest.mark.services


@pytest.fixture
def lake(s3, default_chain) -> Iterator[Any]:
    """A fresh bucket, reachable through the default chain."""
    default_chain(s3)
    yield s3


class TestParquetStoreOnS3(StoreContract):
    @pytest.fixture
    def store_config(self, lake) -> dict[str, Any]:
        self.lake = lake
        return {"type": "parquet", "path": lake.url("lake", "t")}

    def read_back(self, store_config: dict[str, Any]) -> pa.Table:
        visible = [f for f in self.lake.files("lake", "t") if f.endswith(".parquet")]
        visible = [f for f in visible if "/_hygge" not in f]
        if not visible:
            return self.table(rows=0)
        return self.lake.read("lake", "t")


class TestParquetHomeOnS3(HomeContract):
    @pytest.fixture(autouse=True)
    def _lake(self, lake) -> None:
        self.lake = lake

    def home_config(self, table: pa.Table, tmp_path: pathlib.Path) -> dict[str, Any]:
        folder = f"home-{tmp_path.name}"
        self.lake.write(table, folder, "a.parquet", row_group_size=100)
        return {"type": "parquet", "path": self.lake.url(folder), "unit_rows": 200}

    def append_rows(self, config: dict[str, Any], table: pa.Table, tmp_path: pathlib.Path) -> None:
        self.lake.write(table, f"home-{tmp_path.name}", "b.parquet", row_group_size=100)
