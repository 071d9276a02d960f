"""A test class narrows what the kit checks for one configuration: `splits` included."""

from __future__ import annotations

import pathlib
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import HomeContract


class OneFile(HomeContract):
    """The Parquet home (which declares splits = True) on one small file: one unit."""

    def home_config(self, table: pa.Table, tmp_path: pathlib.Path) -> dict[str, Any]:
        pq.write_table(table, tmp_path / "one.parquet")
        return {"type": "parquet", "path": str(tmp_path / "one.parquet")}


class OneFileNarrowed(OneFile):
    splits = False


def test_a_class_that_sets_splits_false_skips_the_splits_check(tmp_path: pathlib.Path) -> None:
    with pytest.raises(pytest.skip.Exception, match="the test class sets splits = False"):
        OneFileNarrowed().test_splits_into_units(tmp_path)


def test_without_narrowing_the_declared_splits_are_checked(tmp_path: pathlib.Path) -> None:
    with pytest.raises(AssertionError, match="home declares splits but planned 1 unit"):
        OneFile().test_splits_into_units(tmp_path)
