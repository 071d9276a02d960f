"""Tables hygge writes read back exactly by a reader that shares no code with delta-rs: the
transaction log's JSON commits (and checkpoint, if any) replayed here by the protocol's
rules, the data files read with pyarrow, partition values taken from the log.

duckdb's delta extension is downloaded from the internet, which the test machines cannot
reach, and polars reads Delta through deltalake itself; this reader is the independent one.
"""

from __future__ import annotations

import decimal
import json
import pathlib
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from hygge_core.testing import FlowHarness, every_type_table

FLOW = "orders"


def replay(table: pathlib.Path) -> pa.Table:
    """The table's current rows: the log replayed from its last checkpoint, the live files
    read with pyarrow, each file's partition values added as columns of their log type."""
    log = table / "_delta_log"
    live: dict[str, dict[str, Any]] = {}
    start = -1
    pointer = log / "_last_checkpoint"
    if pointer.exists():
        start = json.loads(pointer.read_text())["version"]
        checkpoint = pq.read_table(log / f"{start:020d}.checkpoint.parquet").to_pylist()
        for action in checkpoint:
            if action.get("add"):
                live[action["add"]["path"]] = action["add"]
    schema: dict[str, Any] | None = None
    partition_columns: list[str] = []
    for commit in sorted(log.glob("*.json")):
        if int(commit.stem) <= start:
            continue
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "metaData" in action:
                schema = json.loads(action["metaData"]["schemaString"])
                partition_columns = action["metaData"]["partitionColumns"]
            elif "add" in action:
                live[action["add"]["path"]] = action["add"]
            elif "remove" in action:
                live.pop(action["remove"]["path"], None)
    assert schema is not None, "no metaData action in the log"
    types = {f["name"]: f["type"] for f in schema["fields"]}
    parts = []
    for path, add in sorted(live.items()):
        data = pq.read_table(table / unquote(path))
        for column in partition_columns:
            value = add["partitionValues"].get(column)
            data = data.append_column(
                column, pa.array([_typed(value, types[column])] * data.num_rows)
            )
        parts.append(_plain_strings(data.select([f["name"] for f in schema["fields"]])))
    return pa.concat_tables(parts, promote_options="permissive")


def _plain_strings(data: pa.Table) -> pa.Table:
    """Files delta-rs rewrote (a MERGE) carry string_view in their Arrow schema, hygge's
    plain strings: the same values, one type to compare."""
    fields = [
        f.with_type(pa.string()) if f.type in (pa.string_view(), pa.large_string()) else f
        for f in data.schema
    ]
    return data.cast(pa.schema(fields))


def _typed(value: str | None, delta_type: str) -> Any:
    if value is None:
        return None
    if delta_type in ("long", "integer", "short", "byte"):
        return int(value)
    if delta_type.startswith("decimal"):
        return decimal.Decimal(value)
    return value


def rows(ids: range, *, v: float = 1.0) -> pa.Table:
    ids = list(ids)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "p": [f"p{i % 5}" for i in ids],
            "v": pa.array([v * i for i in ids], pa.float64()),
        }
    )


def run(harness: FlowHarness, source: pa.Table, store: dict[str, Any], name: str) -> None:
    spec = {FLOW: {"home": harness.parquet_source(source, name, units=3), "store": store}}
    harness.run_ok(spec)


def same_rows(got: pa.Table, want: pa.Table) -> None:
    got = got.select(want.column_names).cast(want.schema).sort_by("id")
    assert got.to_pylist() == want.sort_by("id").to_pylist()


@pytest.mark.parametrize("partition_by", [None, ["p"]], ids=["flat", "partitioned"])
def test_every_mode_reads_back_exactly_without_delta_rs(
    tmp_path: pathlib.Path, partition_by: list[str] | None
) -> None:
    harness = FlowHarness(tmp_path)
    lake = tmp_path / "lake"
    base: dict[str, Any] = {"type": "delta", "path": str(lake)}
    if partition_by:
        base["partition_by"] = partition_by
    run(harness, rows(range(0, 300)), {**base, "mode": "append"}, "a")
    run(harness, rows(range(300, 400)), {**base, "mode": "append"}, "b")
    same_rows(replay(lake), rows(range(0, 400)))
    changed = rows(range(350, 450), v=2.0)  # 50 updates and 50 inserts in one run
    run(harness, changed, {**base, "mode": "merge", "keys": ["id"]}, "c")
    want = pa.concat_tables([rows(range(0, 350)), changed])
    same_rows(replay(lake), want)
    if partition_by:
        # Only p0 and p1 come again: the other partitions keep their rows.
        fresh = rows(range(1000, 1010)).filter(pc.is_in(pc.field("p"), pa.array(["p0", "p1"])))
        run(harness, fresh, {**base, "mode": "replace_partitions"}, "d")
        kept = want.filter(pc.invert(pc.is_in(want["p"], pa.array(["p0", "p1"]))))
        want = pa.concat_tables([kept, fresh])
        same_rows(replay(lake), want)
    run(harness, rows(range(7, 9)), {**base, "mode": "replace"}, "e")
    same_rows(replay(lake), rows(range(7, 9)))


def test_types_round_trip(tmp_path: pathlib.Path) -> None:
    harness = FlowHarness(tmp_path)
    source = every_type_table()
    lake = tmp_path / "lake"
    run(harness, source, {"type": "delta", "path": str(lake)}, "src")
    back = DeltaTable(str(lake)).to_pyarrow_table()
    assert back.to_pylist() == source.to_pylist()
    # The log replayed here, the files read by pyarrow: the same values and types.
    replayed = replay(lake)
    assert replayed.schema == source.schema
    assert replayed.to_pylist() == source.to_pylist()
