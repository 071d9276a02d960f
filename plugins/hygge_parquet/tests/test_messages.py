"""What a Parquet store says when its folder is not what it expects (issue 21, point 13)."""

from __future__ import annotations

import pathlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import FlowHarness

TABLE = pa.table({"id": [1, 2, 3]})


@pytest.fixture
def harness(tmp_path: pathlib.Path) -> FlowHarness:
    return FlowHarness(tmp_path)


def test_a_file_that_is_not_parquet_in_the_store_folder_is_named(harness, tmp_path) -> None:
    store = tmp_path / "lake"
    store.mkdir()
    (store / "notes.parquet").write_text("hello")
    results = harness.run({"t": {"home": harness.parquet_source(TABLE), "store": f"{store}/"}})
    assert results[0].status == "failed"
    assert results[0].error == (
        f"store {store}/: {store}/notes.parquet is not a readable Parquet file (Parquet file "
        "size is 5 bytes, smaller than the minimum file footer (8 bytes)); move it out of the "
        "store folder (hygge skips only names that start with '_' or '.'), or write to "
        "another folder"
    )
    assert (store / "notes.parquet").read_text() == "hello"


def test_a_store_path_that_is_a_file_says_so(harness, tmp_path) -> None:
    home = harness.parquet_source(TABLE)
    target = tmp_path / "taken.parquet"
    pq.write_table(TABLE, target)
    before = target.read_bytes()
    results = harness.run({"t": {"home": home, "store": {"type": "parquet", "path": f"{target}/"}}})
    assert results[0].status == "failed"
    assert results[0].error == (
        f"store path {target}/ is a file, but this store writes a folder of files there: "
        f"give a folder path that is not a file (e.g. {target}_out/)"
    )
    assert target.read_bytes() == before
