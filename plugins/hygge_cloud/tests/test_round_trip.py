"""Local Parquet → cloud → local, on all three emulators, in append and replace modes.

The Parquet plugin has no cloud code: every byte goes through the storages of hygge-cloud,
and every commit through `FileCommitter`'s copy-then-delete path.
"""

from __future__ import annotations

import pathlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import FlowHarness, sample_table, tables_equal

pytestmark = pytest.mark.services


def _up_and_down(harness: FlowHarness, cloud, source: pa.Table, mode: str, *, tag: str) -> pa.Table:
    """Run local → cloud (in `mode`), then cloud → a fresh local folder; return what landed."""
    local = harness.root / f"{tag}.parquet"
    pq.write_table(source, local, row_group_size=700)
    sink = harness.root / f"back-{tag}"
    flows = {
        "up": {
            "home": str(local),
            "store": {
                "type": "parquet",
                "path": cloud.url("lake", "t"),
                "connection": "lake",
                "mode": mode,
                "row_group_rows": 1000,
                "file_rows": 1500,  # several part files per run: several moves per commit
            },
        },
        "down": {
            "home": {"type": "parquet", "path": cloud.url("lake", "t"), "connection": "lake"},
            "store": {"type": "parquet", "path": str(sink), "mode": "replace"},
        },
    }
    connections = {"lake": cloud.connection}
    harness.run_ok({"up": flows["up"]}, connections=connections)
    harness.run_ok({"down": flows["down"]}, connections=connections)
    return pq.read_table(sink)


def _assert_exact(got: pa.Table, want: pa.Table) -> None:
    assert got.num_rows == want.num_rows
    assert got.schema.remove_metadata().equals(want.schema), (got.schema, want.schema)
    assert tables_equal(got, want)


def test_replace_round_trip_is_exact(cloud, tmp_path: pathlib.Path) -> None:
    harness = FlowHarness(tmp_path)
    first = sample_table(4000, seed=1)
    _assert_exact(_up_and_down(harness, cloud, first, "replace", tag="a"), first)
    second = sample_table(2500, seed=2)
    _assert_exact(_up_and_down(harness, cloud, second, "replace", tag="b"), second)
    # The first run's part files are gone, not merely hidden.
    visible = [f for f in cloud.files("lake", "t") if "/_hygge" not in f]
    assert visible and all("part-" in f for f in visible)
    assert cloud.read("lake", "t").num_rows == second.num_rows
    _assert_nothing_staged(cloud)


def test_append_round_trip_is_exact(cloud, tmp_path: pathlib.Path) -> None:
    harness = FlowHarness(tmp_path)
    first = sample_table(3000, seed=3)
    _assert_exact(_up_and_down(harness, cloud, first, "append", tag="a"), first)
    second = sample_table(2000, seed=4)
    second = second.set_column(0, "id", pa.array(range(3000, 5000), pa.int64()))
    both = pa.concat_tables([first, second])
    _assert_exact(_up_and_down(harness, cloud, second, "append", tag="b"), both)
    _assert_nothing_staged(cloud)


def test_default_credential_chain(cloud, default_chain, tmp_path: pathlib.Path) -> None:
    """No `connection:` at all: the provider's own chain (here: environment variables)."""
    default_chain(cloud)
    harness = FlowHarness(tmp_path)
    table = sample_table(1000, seed=5)
    pq.write_table(table, tmp_path / "src.parquet")
    harness.run_ok(
        {"up": {"home": str(tmp_path / "src.parquet"), "store": cloud.url("plain") + "/"}}
    )
    harness.run_ok(
        {"down": {"home": cloud.url("plain") + "/", "store": str(tmp_path / "back") + "/"}}
    )
    _assert_exact(pq.read_table(tmp_path / "back"), table)


def _assert_nothing_staged(cloud) -> None:
    leftovers = [
        f for f in cloud.files("lake", "t") if "_hygge_staging" in f or "/_hygge/commits/" in f
    ]
    assert leftovers == []


def test_azure_account_in_the_url(azure, tmp_path: pathlib.Path) -> None:
    """`abfss://container@account.dfs.core.windows.net/dir`, the Spark form: the path is
    `container/dir` and the account comes from the URL (here it matches the connection)."""
    harness = FlowHarness(tmp_path)
    table = sample_table(800, seed=9)
    pq.write_table(table, tmp_path / "src.parquet")
    url = f"abfss://{azure.bucket}@devstoreaccount1.dfs.core.windows.net/spark/t"
    connections = {"lake": azure.connection}
    store = {"type": "parquet", "path": url, "connection": "lake"}
    harness.run_ok(
        {"up": {"home": str(tmp_path / "src.parquet"), "store": store}}, connections=connections
    )
    _assert_exact(azure.read("spark", "t"), table)
    home = {"type": "parquet", "path": url, "connection": "lake"}
    harness.run_ok(
        {"down": {"home": home, "store": str(tmp_path / "back") + "/"}}, connections=connections
    )
    _assert_exact(pq.read_table(tmp_path / "back"), table)


def test_hive_partitions_round_trip_and_replace_partitions(cloud, tmp_path: pathlib.Path) -> None:
    """`partition_by:` and `replace_partitions` on an object store: the folders, the types
    published with the commit, and the untouched partitions' objects left as they were."""
    harness = FlowHarness(tmp_path)
    connections = {"lake": cloud.connection}
    store = {"type": "parquet", "path": cloud.url("hive"), "connection": "lake"}
    store["partition_by"] = ["region"]
    first = pa.table({"id": pa.array(range(30), pa.int64()), "region": ["a b", "c", "d"] * 10})
    pq.write_table(first, tmp_path / "first.parquet")
    harness.run_ok(
        {"w": {"home": str(tmp_path / "first.parquet"), "store": store}}, connections=connections
    )
    untouched = {
        p: cloud.fs.info(p)["size"]
        for p in cloud.files("hive")
        if "region=" in p and "region=c" not in p
    }
    assert any("region=a%20b/" in p for p in untouched)
    second = pa.table({"id": pa.array(range(100, 105), pa.int64()), "region": ["c"] * 5})
    pq.write_table(second, tmp_path / "second.parquet")
    replace = {**store, "mode": "replace_partitions"}
    harness.run_ok(
        {"w": {"home": str(tmp_path / "second.parquet"), "store": replace}}, connections=connections
    )
    home = {"type": "parquet", "path": cloud.url("hive"), "connection": "lake"}
    harness.run_ok(
        {"r": {"home": home, "store": harness.parquet_sink("back")}}, connections=connections
    )
    kept = first.filter(pa.compute.not_equal(first["region"], "c"))
    assert tables_equal(pa.concat_tables([kept, second]), pq.read_table(tmp_path / "back"))
    assert {p: cloud.fs.info(p)["size"] for p in untouched} == untouched
