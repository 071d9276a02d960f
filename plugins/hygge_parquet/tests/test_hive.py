"""Hive-partitioned Parquet stores (`partition_by:`, `replace_partitions`) and reading the
`col=value/` folders back as columns (issue 15, point 3)."""

from __future__ import annotations

import datetime
import decimal
import hashlib
import pathlib

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import FlowHarness, table_checksum, tables_equal

UTC = datetime.UTC


def typed() -> pa.Table:
    """Partition keys of every kind a folder holds, with the values that need escaping."""
    n = 12
    return pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "name": pa.array(["a b", "x/y", "", None, "%", "é:=", "a=b", "?#"] + ["a b"] * 4),
            "day": pa.array([datetime.date(2024, 1, 1 + i % 3) for i in range(n)]),
            "at": pa.array(
                [datetime.datetime(2024, 5, 1, i % 2, 30, tzinfo=UTC) for i in range(n)],
                pa.timestamp("us", tz="UTC"),
            ),
            "price": pa.array(
                [decimal.Decimal(f"{i % 2}.50") for i in range(n)], pa.decimal128(38, 2)
            ),
            "flag": pa.array([i % 2 == 0 for i in range(n)]),
            "v": pa.array([float(i) for i in range(n)]),
        }
    )


def regions(rows: dict[str, int], start: int = 0, tag: str = "old") -> pa.Table:
    """`rows[r]` rows for each region r, ids from `start`."""
    ids, region, note = [], [], []
    for r, count in rows.items():
        for _ in range(count):
            ids.append(start + len(ids))
            region.append(r)
            note.append(tag)
    return pa.table({"id": pa.array(ids, pa.int64()), "region": region, "note": note})


@pytest.fixture
def harness(tmp_path: pathlib.Path) -> FlowHarness:
    return FlowHarness(tmp_path)


def _hashes(folder: pathlib.Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*.parquet")
        if not any(part.startswith("_") for part in p.relative_to(folder).parts)
    }


def test_every_key_type_round_trips_exactly(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    source = typed()
    lake = tmp_path / "lake"
    keys = ["name", "day", "at", "price", "flag"]
    store = {"type": "parquet", "path": str(lake), "partition_by": keys}
    harness.run_ok({"w": {"home": harness.parquet_source(source, units=3), "store": store}})
    back = tmp_path / "back"
    home = {"type": "parquet", "path": str(lake)}
    harness.run_ok({"r": {"home": home, "store": harness.parquet_sink("back")}})
    got = pq.read_table(back)
    assert got.schema.field("price").type == pa.decimal128(38, 2)
    assert got.schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert tables_equal(source, got)
    assert table_checksum(source) == table_checksum(got.select(source.column_names))
    # The folders are hive's: escaped like pyarrow does, NULL as the default partition,
    # and the files hold only the other columns.
    names = {p.relative_to(lake).parts[0] for p in lake.rglob("*.parquet") if p.name[0] != "_"}
    assert {"name=a%20b", "name=x%2Fy", "name=", "name=__HIVE_DEFAULT_PARTITION__"} <= names
    assert {"name=%25", "name=%C3%A9%3A%3D", "name=a%3Db", "name=%3F%23"} <= names
    one = next(lake.rglob("*.parquet"))
    assert pq.read_schema(one).names == ["id", "v"]


def test_pyarrow_reads_what_the_store_wrote(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    source = typed().select(["id", "name", "day", "v"])
    lake = tmp_path / "lake"
    store = {"type": "parquet", "path": str(lake), "partition_by": ["name", "day"]}
    harness.run_ok({"w": {"home": harness.parquet_source(source), "store": store}})
    schema = pa.schema([("name", pa.string()), ("day", pa.date32())])
    got = ds.dataset(
        lake, format="parquet", partitioning=ds.partitioning(schema, flavor="hive")
    ).to_table()
    assert tables_equal(source, got)


def test_a_pyarrow_hive_dataset_reads_with_its_columns(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    source = regions({"eu": 3, "us": 2}).append_column("year", pa.array([2023, 2024] * 2 + [2024]))
    folder = tmp_path / "pyarrow"
    ds.write_dataset(
        source,
        folder,
        format="parquet",
        partitioning=["year", "region"],
        partitioning_flavor="hive",
    )
    home = {"type": "parquet", "path": str(folder), "columns": ["id", "region", "year"]}
    harness.run_ok({"r": {"home": home, "store": harness.parquet_sink("back")}})
    got = pq.read_table(tmp_path / "back")
    # No types recorded beside the data: integers come back as int64, the rest as text.
    assert got.schema == pa.schema(
        [("id", pa.int64()), ("region", pa.string()), ("year", pa.int64())]
    )
    assert tables_equal(source.select(["id", "region", "year"]), got)


def test_replace_partitions_touches_only_the_partitions_in_the_run(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    lake = tmp_path / "lake"
    store = {"type": "parquet", "path": str(lake), "partition_by": ["region"]}
    first = regions({"r1": 4, "r2": 4, "r3": 4, "r4": 4, "r5": 4})
    harness.run_ok({"w": {"home": harness.parquet_source(first, "first"), "store": store}})
    before = _hashes(lake)
    second = regions({"r2": 2, "r4": 6}, start=100, tag="new")
    store = {**store, "mode": "replace_partitions"}
    harness.run_ok({"w": {"home": harness.parquet_source(second, "second"), "store": store}})
    after = _hashes(lake)
    untouched = {
        k: v
        for k, v in before.items()
        if k.split("/")[0] in ("region=r1", "region=r3", "region=r5")
    }
    assert untouched and {k: after[k] for k in untouched} == untouched  # byte-identical
    assert not any(k.startswith(("region=r2/", "region=r4/")) for k in before.keys() & after.keys())
    home = {"type": "parquet", "path": str(lake)}
    harness.run_ok({"r": {"home": home, "store": harness.parquet_sink("back")}})
    got = pq.read_table(tmp_path / "back")
    kept = first.filter(pa.compute.is_in(first["region"], pa.array(["r1", "r3", "r5"])))
    assert tables_equal(pa.concat_tables([kept, second]), got)


def test_append_adds_files_to_partitions(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    lake = tmp_path / "lake"
    store = {"type": "parquet", "path": str(lake), "partition_by": ["region"]}
    one, two = regions({"a": 2, "b": 1}), regions({"b": 2, "c": 1}, start=10)
    harness.run_ok({"w": {"home": harness.parquet_source(one, "one"), "store": store}})
    harness.run_ok({"w": {"home": harness.parquet_source(two, "two"), "store": store}})
    got = ds.dataset(lake, format="parquet", partitioning="hive").to_table()
    assert tables_equal(pa.concat_tables([one, two]), got.select(one.column_names))
    assert len(list((lake / "region=b").glob("*.parquet"))) == 2


def test_replace_with_partitions_replaces_everything(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    lake = tmp_path / "lake"
    store = {"type": "parquet", "path": str(lake), "partition_by": ["region"], "mode": "replace"}
    harness.run_ok(
        {"w": {"home": harness.parquet_source(regions({"a": 2, "b": 1}), "one"), "store": store}}
    )
    two = regions({"c": 3}, start=10)
    harness.run_ok({"w": {"home": harness.parquet_source(two, "two"), "store": store}})
    assert sorted(p.parent.name for p in lake.rglob("*.parquet") if p.parent.name[0] != "_") == [
        "region=c"
    ]


def test_a_changed_partition_layout_is_refused(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    lake = tmp_path / "lake"
    store = {"type": "parquet", "path": str(lake), "partition_by": ["region"]}
    harness.run_ok(
        {"w": {"home": harness.parquet_source(regions({"a": 2}), "one"), "store": store}}
    )
    before = _hashes(lake)
    other = {**store, "partition_by": ["note"]}
    results = harness.run(
        {"w": {"home": harness.parquet_source(regions({"b": 1}), "two"), "store": other}}
    )
    assert results[0].status == "failed"
    first = next(p for p in lake.rglob("*.parquet"))
    assert results[0].error == (
        f"store {lake}: its files are partitioned by ['region'] ({first}) but partition_by is "
        "['note']; a store keeps one layout. hint: set partition_by: ['region'] as before, "
        "or run once with mode: replace"
    )
    assert _hashes(lake) == before


def test_a_partition_column_that_is_not_in_the_data_is_named(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    lake = tmp_path / "lake"
    store = {"type": "parquet", "path": str(lake), "partition_by": ["regoin"]}
    results = harness.run(
        {"w": {"home": harness.parquet_source(regions({"a": 2})), "store": store}}
    )
    assert results[0].error == (
        f"store {lake}: partition_by column 'regoin' is not in the data; columns: id, region, note"
    )
    assert not list(lake.rglob("*.parquet"))


def test_replace_partitions_needs_partition_by(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    store = {"type": "parquet", "path": str(tmp_path / "lake"), "mode": "replace_partitions"}
    message = harness.config_error(
        {"w": {"home": harness.parquet_source(regions({"a": 1})), "store": store}}
    )
    assert "mode: replace_partitions needs partition_by: [column, ...]" in message


def test_incremental_reads_of_a_partitioned_folder(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    lake = tmp_path / "lake"
    store = {"type": "parquet", "path": str(lake), "partition_by": ["region"]}
    harness.run_ok(
        {"w": {"home": harness.parquet_source(regions({"a": 2, "b": 2}), "one"), "store": store}}
    )
    home = {"type": "parquet", "path": str(lake), "incremental": {"cursor": "id"}}
    sink = {"type": "parquet", "path": str(tmp_path / "copy")}
    harness.run_ok({"r": {"home": home, "store": sink}})
    harness.run_ok(
        {
            "w": {
                "home": harness.parquet_source(regions({"b": 1, "c": 2}, start=4), "two"),
                "store": store,
            }
        }
    )
    harness.run_ok({"r": {"home": home, "store": sink}})
    got = pq.read_table(tmp_path / "copy")
    assert sorted(got["id"].to_pylist()) == [0, 1, 2, 3, 4, 5, 6]  # each row once
    assert set(got.column_names) == {"id", "region", "note"}
