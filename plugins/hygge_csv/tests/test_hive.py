"""Hive-partitioned CSV stores (`partition_by:`, `replace_partitions`) and the CSV home
reading `col=value/` folders back as columns (issue 15, point 3)."""

from __future__ import annotations

import datetime
import hashlib
import pathlib
import random
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from hygge_core.testing import FlowHarness, Kill, kill_points, run_hygge, tables_equal

POINTS = kill_points(default=2)


def regions(rows: dict[str, int], start: int = 0, tag: str = "old") -> pa.Table:
    ids, region, day = [], [], []
    for r, count in rows.items():
        for i in range(count):
            ids.append(start + len(ids))
            region.append(r)
            day.append(datetime.date(2024, 1, 1 + i % 2))
    n = len(ids)
    return pa.table(
        {"id": pa.array(ids, pa.int64()), "region": region, "day": day, "note": [tag] * n}
    )


@pytest.fixture
def harness(tmp_path: pathlib.Path) -> FlowHarness:
    return FlowHarness(tmp_path)


def _hashes(folder: pathlib.Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*.csv")
    }


def _read_back(harness: FlowHarness, lake: pathlib.Path, **home: object) -> pa.Table:
    out = f"back{harness.count}"
    flow = {"home": {"type": "csv", "path": str(lake), **home}, "store": harness.parquet_sink(out)}
    harness.run_ok({"r": flow})
    return pq.read_table(harness.root / out)


def test_partitioned_csv_round_trips_with_typed_keys(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    source = regions({"eu west": 3, "": 1, "a/b": 2})
    source = source.set_column(
        1, "region", pc.if_else(pc.equal(source["id"], 5), None, source["region"])
    )
    lake = tmp_path / "lake"
    store = {"type": "csv", "path": str(lake), "partition_by": ["region", "day"]}
    harness.run_ok({"w": {"home": harness.parquet_source(source, units=3), "store": store}})
    assert {p.relative_to(lake).parts[0] for p in lake.rglob("*.csv")} == {
        "region=eu%20west",
        "region=",
        "region=a%2Fb",
        "region=__HIVE_DEFAULT_PARTITION__",
    }
    one = next(lake.rglob("*.csv")).read_text().splitlines()[0]
    assert one == '"id","note"'  # the partition columns are in the folders only
    got = _read_back(harness, lake)
    assert got.schema.field("day").type == pa.date32()  # the type the store recorded
    assert tables_equal(source, got)


def test_declared_columns_type_the_partition_columns(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    lake = tmp_path / "lake"
    (lake / "year=2024" / "region=eu").mkdir(parents=True)
    (lake / "year=2024" / "region=eu" / "a.csv").write_text("id\n1\n2\n")
    (lake / "year=2023" / "region=us").mkdir(parents=True)
    (lake / "year=2023" / "region=us" / "b.csv").write_text("id\n3\n")
    columns = {"year": "int32", "id": "int64", "region": "string"}
    got = _read_back(harness, lake, columns=columns)
    assert got.schema == pa.schema(
        [("year", pa.int32()), ("id", pa.int64()), ("region", pa.string())]
    )
    assert sorted(got.to_pylist(), key=lambda r: r["id"]) == [
        {"year": 2024, "id": 1, "region": "eu"},
        {"year": 2024, "id": 2, "region": "eu"},
        {"year": 2023, "id": 3, "region": "us"},
    ]


def test_replace_partitions_leaves_the_other_partitions_byte_identical(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    lake = tmp_path / "lake"
    store = {"type": "csv", "path": str(lake), "partition_by": ["region"]}
    first = regions({"r1": 3, "r2": 3, "r3": 3, "r4": 3, "r5": 3})
    harness.run_ok({"w": {"home": harness.parquet_source(first, "first"), "store": store}})
    before = _hashes(lake)
    second = regions({"r2": 1, "r4": 4}, start=100, tag="new")
    store = {**store, "mode": "replace_partitions"}
    harness.run_ok({"w": {"home": harness.parquet_source(second, "second"), "store": store}})
    after = _hashes(lake)
    untouched = {
        k: v
        for k, v in before.items()
        if k.split("/")[0] in ("region=r1", "region=r3", "region=r5")
    }
    assert len(untouched) == 3 and {k: after.get(k) for k in untouched} == untouched
    kept = first.filter(pc.is_in(first["region"], pa.array(["r1", "r3", "r5"])))
    assert tables_equal(pa.concat_tables([kept, second]), _read_back(harness, lake))


def test_partition_by_into_one_file_is_refused(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    target = tmp_path / "out" / "all.csv"
    store = {"type": "csv", "path": str(target), "partition_by": ["region"]}
    results = harness.run(
        {"w": {"home": harness.parquet_source(regions({"a": 1})), "store": store}}
    )
    assert results[0].status == "failed"
    assert results[0].error == (
        f"store {target}: partition_by writes col=value/ folders of part files, but the path "
        f"names one file; give a folder path (e.g. {tmp_path / 'out'}/out/) or remove "
        "partition_by"
    )
    assert not target.exists()


def test_kill_anywhere_then_rerun_converges(tmp_path: pathlib.Path) -> None:
    """The short kill loop of `replace_partitions` into CSV (scripts/stress.sh: 50 points)."""
    rows = 8_000
    first = pa.table(
        {"id": pa.array(range(rows), pa.int64()), "region": [f"r{i % 5 + 1}" for i in range(rows)]}
    )
    second = pa.table(
        {"id": pa.array(range(rows, 2 * rows), pa.int64()), "region": ["r2", "r4"] * (rows // 2)}
    )
    pq.write_table(first, tmp_path / "first.parquet", row_group_size=rows // 4)
    pq.write_table(second, tmp_path / "second.parquet", row_group_size=rows // 4)
    kept = first.filter(pc.invert(pc.is_in(first["region"], pa.array(["r2", "r4"]))))
    expected = pa.concat_tables([kept, second])

    def flows(lake: pathlib.Path, data: str, mode: str) -> str:
        home = {
            "type": "parquet",
            "path": str(tmp_path / f"{data}.parquet"),
            "unit_rows": rows // 4,
        }
        store = {
            "type": "csv",
            "path": str(lake),
            "mode": mode,
            "partition_by": ["region"],
            "file_rows": 500,
        }
        path = tmp_path / f"{lake.name}-{data}.yaml"
        path.write_text(yaml.safe_dump({"flows": {"f": {"home": home, "store": store}}}))
        return str(path)

    def read(lake: pathlib.Path) -> pa.Table:
        import pyarrow.dataset as ds

        schema = pa.schema([("region", pa.string())])
        found = ds.dataset(lake, format="csv", partitioning=ds.partitioning(schema, flavor="hive"))
        return found.to_table().select(["id", "region"])

    rng = random.Random("hive-csv")
    clean = tmp_path / "clean"
    assert run_hygge("run", flows(clean, "first", "append")).returncode == 0
    started = time.monotonic()
    assert run_hygge("run", flows(clean, "second", "replace_partitions")).returncode == 0
    seconds = time.monotonic() - started
    assert tables_equal(expected, read(clean))
    chosen = [Kill(point="commit.record"), Kill(point="commit.move", nth=rng.randint(1, 8))]
    chosen += [Kill(delay=rng.uniform(0.0, seconds)) for _ in range(POINTS)]
    for k, kill in enumerate(chosen):
        lake = tmp_path / f"lake{k}"
        assert run_hygge("run", flows(lake, "first", "append")).returncode == 0
        untouched = {
            p: h for p, h in _hashes(lake).items() if not p.startswith(("region=r2", "region=r4"))
        }
        path = flows(lake, "second", "replace_partitions")
        killed = run_hygge("run", path, kill=kill, timeout=300)
        where = f"{kill.describe()} (killed run exit {killed.returncode})"
        rerun = run_hygge("run", path, timeout=300)
        assert rerun.returncode == 0, f"{where}: rerun failed\n{rerun.stderr}"
        assert tables_equal(expected, read(lake)), where
        assert {p: _hashes(lake).get(p) for p in untouched} == untouched, where
        assert not list(lake.glob("_hygge_staging/**/*.csv")), f"{where}: staging left"
