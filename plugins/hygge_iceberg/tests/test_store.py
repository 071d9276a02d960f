"""The Iceberg store: modes, partition transforms, catalogs, crashes at the commit."""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.catalog import load_catalog
from pyiceberg.catalog.sql import SqlCatalog

from hygge_core.testing import FlowHarness, need_env

FLOW = "orders"
HYGGE = os.path.join(os.path.dirname(sys.executable), "hygge")


@pytest.fixture
def harness(tmp_path: pathlib.Path) -> FlowHarness:
    return FlowHarness(tmp_path)


def rows(ids: range, *, v: float = 1.0) -> pa.Table:
    ids = list(ids)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "p": [f"p{i % 5}" for i in ids],
            "ts": pa.array(
                [dt.datetime(2024, 1, 1 + i % 20, tzinfo=dt.UTC) for i in ids],
                pa.timestamp("us", "UTC"),
            ),
            "v": pa.array([v * i for i in ids], pa.float64()),
        }
    )


def catalog(wh: pathlib.Path) -> SqlCatalog:
    return SqlCatalog("hygge", uri=f"sqlite:///{wh}/catalog.db", warehouse=f"file://{wh}")


def read(wh: pathlib.Path, name: str = "lake.orders") -> pa.Table:
    got = catalog(wh).load_table(name).scan().to_arrow()
    return got.cast(
        pa.schema(
            [f.with_type(pa.string()) if f.type == pa.large_string() else f for f in got.schema]
        )
    ).sort_by("id")


def flow(harness: FlowHarness, source: pa.Table, store: dict[str, Any], name: str = "src"):
    return {FLOW: {"home": harness.parquet_source(source, name, units=3), "store": store}}


def store_at(wh: pathlib.Path, **extra: Any) -> dict[str, Any]:
    return {"type": "iceberg", "warehouse": str(wh), "table": "lake.orders", **extra}


def hygge_snapshots(wh: pathlib.Path) -> list[dict[str, str]]:
    table = catalog(wh).load_table("lake.orders")
    return [
        dict(s.summary.additional_properties)
        for s in table.snapshots()
        if s.summary.additional_properties.get("hygge.flow") == FLOW
    ]


def test_append_replace_and_snapshot_summaries(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    wh = tmp_path / "wh"
    harness.run_ok(flow(harness, rows(range(0, 300)), store_at(wh), "a"))
    harness.run_ok(flow(harness, rows(range(300, 500)), store_at(wh), "b"))
    assert read(wh).equals(rows(range(0, 500)))
    [replace] = harness.run_ok(flow(harness, rows(range(7, 9)), store_at(wh, mode="replace"), "c"))
    assert read(wh).equals(rows(range(7, 9)))
    runs = {s["hygge.run_id"] for s in hygge_snapshots(wh)}
    assert len(runs) == 3 and replace.run_id in runs


def test_merge_updates_and_inserts_in_one_run(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    wh = tmp_path / "wh"
    store = store_at(wh, mode="merge", keys=["id"])
    harness.run_ok(flow(harness, rows(range(0, 100)), store, "a"))
    changed = rows(range(50, 150), v=2.0)
    harness.run_ok(flow(harness, changed, store, "b"))
    assert read(wh).equals(pa.concat_tables([rows(range(0, 50)), changed]))


def test_partition_transforms(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    wh = tmp_path / "wh"
    store = store_at(wh, partition_by=["p", "day(ts)", "bucket(4, id)"])
    harness.run_ok(flow(harness, rows(range(0, 400)), store))
    table = catalog(wh).load_table("lake.orders")
    assert [str(f.transform) for f in table.spec().fields] == ["identity", "day", "bucket[4]"]
    assert read(wh).equals(rows(range(0, 400)))
    # Partition pruning works on the files hygge wrote: one partition value per file.
    scan = table.scan(row_filter="p = 'p1'")
    files = list(scan.plan_files())
    assert files and all("p=p1" in f.file.file_path for f in files)
    assert scan.to_arrow().num_rows == 80


def test_schema_drift_is_refused_with_the_diff(
    harness: FlowHarness, tmp_path: pathlib.Path
) -> None:
    wh = tmp_path / "wh"
    harness.run_ok(flow(harness, rows(range(3)), store_at(wh), "a"))
    other = rows(range(3, 6)).append_column("extra", pa.array([1, 2, 3]))
    [result] = harness.run(flow(harness, other, store_at(wh), "b"))
    assert result.status == "failed"
    assert result.error == (
        "store lake.orders: the data does not match the Iceberg table's schema:\n"
        "  + extra: int64 is not a column of the table\n"
        "  hint: set schema_drift: evolve to add new columns to the table, or use mode: "
        "replace with schema_drift: evolve to give the table the new columns"
    )
    assert read(wh).equals(rows(range(3)))


@pytest.mark.parametrize("mode", ["append", "merge"])
def test_evolve_adds_new_columns_in_append_and_merge(
    harness: FlowHarness, tmp_path: pathlib.Path, mode: str
) -> None:
    wh = tmp_path / "wh"
    store = store_at(wh, mode=mode, **({"keys": ["id"]} if mode == "merge" else {}))
    harness.run_ok(flow(harness, rows(range(4)), store, "a"))
    # Rows 2..5 with a new column: in merge, 2 and 3 are updated and 4, 5 inserted.
    other = rows(range(2, 6), v=2.0).append_column("extra", pa.array(["x", None, "y", "z"]))
    flows = flow(harness, other, store, "b")
    flows[FLOW]["schema_drift"] = "evolve"
    harness.run_ok(flows)
    got = read(wh)
    assert got.column_names == ["id", "p", "ts", "v", "extra"]
    kept = rows(range(4)) if mode == "append" else rows(range(2))
    old = kept.append_column("extra", pa.nulls(kept.num_rows, pa.string()))
    order = [("id", "ascending"), ("v", "ascending")]
    want = pa.concat_tables([old, other]).sort_by(order)
    assert got.select(want.column_names).sort_by(order).equals(want)
    assert len(hygge_snapshots(wh)) >= 2 and hygge_snapshots(wh)[-1]["hygge.run_id"]
    # A column the data lacks still fails under evolve, naming it; the table is unchanged.
    flows = flow(harness, rows(range(9, 10)).drop_columns(["v"]), store, "c")
    flows[FLOW]["schema_drift"] = "evolve"
    [result] = harness.run(flows)
    assert result.status == "failed" and "  - v: missing from the data" in (result.error or "")
    assert read(wh).select(want.column_names).sort_by(order).equals(want)


def test_incremental_runs_read_only_new_rows(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    wh = tmp_path / "wh"
    source = tmp_path / "src.parquet"
    flows = {
        FLOW: {
            "home": {"type": "parquet", "path": str(source), "incremental": {"cursor": "id"}},
            "store": store_at(wh),
        }
    }
    counts = []
    for upto in (100, 250, 400):
        pq.write_table(rows(range(0, upto)), source)
        [result] = harness.run_ok(flows)
        counts.append(result.rows)
    assert counts == [100, 150, 150]
    assert read(wh).equals(rows(range(0, 400)))
    out = subprocess.run(
        [HYGGE, "state", "reset", str(harness.write(flows)), "--flow", FLOW],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    [full] = harness.run_ok({FLOW: {**flows[FLOW], "store": store_at(wh, mode="replace")}})
    assert full.rows == 400


def test_a_shared_postgresql_catalog(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    (url,) = need_env("HYGGE_TEST_PG_URL", hint="python3 scripts/services.py start postgres")
    name = f"cat_{uuid.uuid4().hex[:8]}"
    wh = tmp_path / "shared"
    wh.mkdir()
    store = {
        "type": "iceberg",
        "table": "lake.orders",
        "catalog": {"uri": url, "warehouse": str(wh), "name": name},
    }
    harness.run_ok(flow(harness, rows(range(50)), store))
    cat = load_catalog(name, type="sql", uri=url, warehouse=f"file://{wh}")
    got = cat.load_table("lake.orders").scan().to_arrow().sort_by("id")
    assert got["id"].to_pylist() == list(range(50))


# ---- crashes ------------------------------------------------------------------------------

CRASH = textwrap.dedent(
    """
    import os, sys
    from hygge_iceberg.store import IcebergStore
    from hygge_core.api import run_file

    where = sys.argv[2]
    real = IcebergStore._publish  # the one catalog commit of the run

    def publish(self, *args):
        if where == "before":
            os._exit(9)  # dies before the catalog swaps the metadata pointer
        real(self, *args)
        os._exit(9)  # the commit landed; dies before its own bookkeeping

    IcebergStore._publish = publish
    run_file(sys.argv[1])
    """
)


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_crash_at_commit_converges_to_exactly_once(
    harness: FlowHarness, tmp_path: pathlib.Path, where: str
) -> None:
    wh = tmp_path / "wh"
    source = tmp_path / "src.parquet"
    pq.write_table(rows(range(0, 600)), source, row_group_size=200)
    flows = {
        FLOW: {
            "home": {
                "type": "parquet",
                "path": str(source),
                "unit_rows": 200,
                "incremental": {"cursor": "id"},
            },
            "store": store_at(wh, partition_by=["p"]),
        }
    }
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH, str(harness.write(flows)), where],
        capture_output=True,
        text=True,
    )
    assert crashed.returncode == 9, crashed.stderr
    written = list(wh.rglob("hygge-*.parquet"))
    assert len(written) == 3 * 5
    [rerun] = harness.run_ok(flows)
    [line] = rerun.recovered
    if where == "before":
        assert re.fullmatch(r"run \S+ never committed; its 15 data file\(s\) removed", line)
        assert rerun.rows == 600
    else:
        assert re.fullmatch(r"run \S+ had committed before it stopped", line)
        assert rerun.rows == 0
    assert read(wh).equals(rows(range(0, 600)))
    table = catalog(wh).load_table("lake.orders")
    referenced = {t.file.file_path.removeprefix("file://") for t in table.scan().plan_files()}
    assert {str(p) for p in wh.rglob("hygge-*.parquet")} == referenced
    assert not list(wh.rglob("runs/*.json"))


def test_a_retried_attempt_after_a_landed_commit_does_not_commit_twice(
    tmp_path: pathlib.Path,
) -> None:
    from hygge_iceberg.config import IcebergStoreConfig
    from hygge_iceberg.store import IcebergStore

    from hygge_core import FlowState, WorkUnit
    from hygge_core.testing.contracts import _context

    wh = tmp_path / "wh"
    config = IcebergStoreConfig(type="iceberg", warehouse=str(wh), table="lake.orders")
    store = IcebergStore(config, _context(FLOW, "run-1", {}))
    data = rows(range(10))
    store.prepare(data.schema)
    first = store.stage(WorkUnit("u"), data.to_batches())
    store.commit([first], FlowState(flow=FLOW))
    store.prepare(data.schema)  # the runner retries the attempt: same store, same run
    second = store.stage(WorkUnit("u"), data.to_batches())
    store.commit([second], FlowState(flow=FLOW))
    assert read(wh).equals(data)
    assert len(hygge_snapshots(wh)) == 1
    assert {str(p) for p in wh.rglob("hygge-*.parquet")} == {
        f["path"] for f in first.payload["files"]
    }


def test_merge_applies_a_change_log(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    wh = tmp_path / "wh"
    store = store_at(wh, mode="merge", keys=["id"])

    def log(changes: list[tuple[int, float | None, str, int, int]]) -> pa.Table:
        ids, vs, ops, lsns, seqs = zip(*changes, strict=True)
        return pa.table(
            {
                "id": pa.array(ids, pa.int64()),
                "v": pa.array(vs, pa.float64()),
                "_op": pa.array(ops, pa.string()),
                "_lsn": pa.array(lsns, pa.int64()),
                "_seq": pa.array(seqs, pa.int64()),
            }
        )

    first = log([(i, i * 1.0, "insert", 1, i) for i in range(6)])
    harness.run_ok(flow(harness, first, store, "a"))
    # Out of order on purpose: the store orders by (_lsn, _seq), not by arrival.
    second = log(
        [
            (1, 10.0, "update", 3, 0),
            (1, 5.0, "update", 2, 0),  # older than the one above: loses
            (2, None, "delete", 2, 1),
            (7, 7.0, "insert", 2, 2),
            (7, None, "delete", 2, 3),  # inserted and deleted within the run
            (4, None, "delete", 2, 4),
            (4, 44.0, "insert", 4, 0),  # deleted, then inserted again
            (9, 9.0, "insert", 2, 5),
        ]
    )
    harness.run_ok(flow(harness, second, store, "b"))
    got = read(wh)
    assert got.select(["id", "v", "_op"]).to_pylist() == [
        {"id": 0, "v": 0.0, "_op": "insert"},
        {"id": 1, "v": 10.0, "_op": "update"},
        {"id": 3, "v": 3.0, "_op": "insert"},
        {"id": 4, "v": 44.0, "_op": "insert"},
        {"id": 5, "v": 5.0, "_op": "insert"},
        {"id": 9, "v": 9.0, "_op": "insert"},
    ]
    # A run that only deletes.
    harness.run_ok(flow(harness, log([(0, None, "delete", 5, 0)]), store, "c"))
    assert read(wh).column("id").to_pylist() == [1, 3, 4, 5, 9]
