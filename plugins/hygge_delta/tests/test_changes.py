"""The Delta home's change data feed (`incremental_by: version`) into merge and append stores.

A source table with the feed enabled changes between runs through deltalake's own API
(appends, DELETE, UPDATE, MERGE, an overwrite); after every run a SQLite merge store and a
Delta merge store must hold exactly the source's rows, and an append Parquet store the change
log, each change once, in order.
"""

from __future__ import annotations

import collections
import pathlib
import sqlite3
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from hygge_core import ConfigError, changes
from hygge_core.testing import FlowHarness, Kill, run_hygge

COLUMNS = ["id", "name", "amount"]
CHANGE_COLUMNS = ["_op", "_lsn", "_seq", "_commit_ts"]


def rows(ids: list[int] | range, tag: str = "a") -> pa.Table:
    ids = list(ids)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": pa.array([f"{tag}{i}" for i in ids], pa.string()),
            "amount": pa.array([i * 1.5 for i in ids], pa.float64()),
        }
    )


def source_rows(path: pathlib.Path) -> list[tuple[Any, ...]]:
    """The source table's rows, as a sorted list (a multiset)."""
    table = DeltaTable(str(path)).to_pyarrow_table().select(COLUMNS)
    return sorted(tuple(r.values()) for r in table.to_pylist())


def sqlite_rows(db: pathlib.Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("SELECT id, name, amount FROM t").fetchall())


def delta_rows(path: pathlib.Path) -> list[tuple[Any, ...]]:
    table = DeltaTable(str(path)).to_pyarrow_table().select(COLUMNS)
    return sorted(tuple(r.values()) for r in table.to_pylist())


def feed(path: pathlib.Path, first: int, last: int) -> list[tuple[Any, ...]]:
    """Delta's own change feed of versions first..last as (columns..., _op, version), update
    pre-images left out: what the append store must hold for a run that read them."""
    reader = DeltaTable(str(path)).load_cdf(starting_version=first, ending_version=last)
    table = pa.RecordBatchReader.from_stream(reader).read_all()
    ops = {"insert": "insert", "update_postimage": "update", "delete": "delete"}
    return [
        (r["id"], r["name"], r["amount"], ops[r["_change_type"]], r["_commit_version"])
        for r in table.to_pylist()
        if r["_change_type"] in ops
    ]


def flows(tmp: pathlib.Path, source: pathlib.Path) -> dict[str, Any]:
    home = {"type": "delta", "path": str(source), "incremental_by": "version"}
    return {
        "to_sqlite": {
            "home": home,
            "store": {
                "type": "sql",
                "url": f"sqlite:///{tmp / 'merge.db'}",
                "table": "t",
                "mode": "merge",
                "keys": ["id"],
            },
        },
        "to_delta": {
            "home": home,
            "store": {
                "type": "delta",
                "path": str(tmp / "merged"),
                "mode": "merge",
                "keys": ["id"],
            },
        },
        "to_log": {
            "home": home,
            "store": {"type": "parquet", "path": str(tmp / "log"), "mode": "append"},
        },
    }


def test_three_runs_apply_inserts_updates_and_deletes(tmp_path: pathlib.Path) -> None:
    harness = FlowHarness(tmp_path)
    source = tmp_path / "source"
    write_deltalake(
        str(source), rows(range(20)), configuration={"delta.enableChangeDataFeed": "true"}
    )
    spec = flows(tmp_path, source)
    log = tmp_path / "log"
    expected_log: list[tuple[Any, ...]] = []
    read_up_to = None
    first_version = DeltaTable(str(source)).version()

    def run_and_check(label: str) -> None:
        nonlocal read_up_to
        version = DeltaTable(str(source)).version()
        results = harness.run_ok(spec)
        want = source_rows(source)
        assert sqlite_rows(tmp_path / "merge.db") == want, label
        assert delta_rows(tmp_path / "merged") == want, label
        if read_up_to is None:  # the first run: the snapshot, every row an insert
            expected_log.extend((*r, "insert", version) for r in want)
        else:
            expected_log.extend(feed(source, read_up_to + 1, version))
        read_up_to = version
        got = pq.read_table(log)
        assert sorted(got.column_names) == sorted(COLUMNS + CHANGE_COLUMNS)
        ordered = got.sort_by([(c, "ascending") for c in changes.ORDER])
        key = [(*(r[c] for c in COLUMNS), r["_op"], r["_lsn"]) for r in ordered.to_pylist()]
        # Each change exactly once, in the feed's versions order.
        assert collections.Counter(key) == collections.Counter(expected_log), label
        assert [k[-1] for k in key] == sorted(k[-1] for k in expected_log), label
        # (_lsn, _seq) orders every change: no two share a place.
        places = zip(got["_lsn"].to_pylist(), got["_seq"].to_pylist(), strict=True)
        assert len(set(places)) == len(got)
        # Delta's commit time for the feed's changes; none for the first run's snapshot.
        stamps = {(r["_lsn"] == first_version, r["_commit_ts"] is None) for r in got.to_pylist()}
        assert stamps <= {(True, True), (False, False)}, label
        # Replaying the whole log gives the source table back.
        replayed = changes.latest_changes(got, ["id"])
        live = replayed.filter(pa.compute.not_equal(replayed.column("_op"), "delete"))
        assert sorted(tuple(r.values()) for r in live.select(COLUMNS).to_pylist()) == want
        assert {r.name: r.status for r in results} == dict.fromkeys(spec, "ok")

    run_and_check("run 1 (snapshot)")
    assert set(pq.read_table(log).column("_lsn").to_pylist()) == {0}

    # Between runs 1 and 2: an append, a DELETE, an UPDATE (three versions).
    write_deltalake(str(source), rows(range(20, 30)), mode="append")
    DeltaTable(str(source)).delete("id % 5 = 0")
    DeltaTable(str(source)).update(updates={"name": "'upd'"}, predicate="id < 8")
    run_and_check("run 2")

    # Between runs 2 and 3: a MERGE (updates and inserts), a DELETE of rows updated before.
    new = rows([1, 2, 3, 100, 101], tag="m")
    (
        DeltaTable(str(source))
        .merge(new, predicate="t.id = s.id", source_alias="s", target_alias="t")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    DeltaTable(str(source)).delete("id IN (2, 21, 22)")
    run_and_check("run 3")

    # An overwrite deletes and writes keys in one version: the write must win.
    write_deltalake(str(source), rows([1, 4, 200], tag="o"), mode="overwrite")
    run_and_check("run 4 (overwrite)")

    # No new version: nothing read, nothing changes.
    results = harness.run_ok(spec)
    assert [r.rows for r in results] == [0, 0, 0]
    assert delta_rows(tmp_path / "merged") == source_rows(source)


def test_a_table_without_the_feed_is_refused_at_the_fields_line(tmp_path: pathlib.Path) -> None:
    harness = FlowHarness(tmp_path)
    source = tmp_path / "source"
    write_deltalake(str(source), rows(range(3)))
    [result] = harness.run(
        {
            "f": {
                "home": {"type": "delta", "path": str(source), "incremental_by": "version"},
                "store": {"type": "parquet", "path": str(tmp_path / "out")},
            }
        }
    )
    assert result.status == "failed"
    flows_file = harness.root / f"flows-{harness.count}.yaml"
    line = next(
        i
        for i, text in enumerate(flows_file.read_text().splitlines(), 1)
        if "incremental_by" in text
    )
    column = flows_file.read_text().splitlines()[line - 1].index("incremental_by") + 1
    assert result.error == (
        f"{flows_file}:{line}:{column}: flow 'f' → home → field 'incremental_by': delta table "
        f"{source} does not record its change data feed (delta.enableChangeDataFeed is "
        "'false' at version 0), which incremental_by: version reads\n"
        "    hint: ALTER TABLE ... SET TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true') "
        "(deltalake: DeltaTable.alter.set_table_properties({'delta.enableChangeDataFeed': "
        "'true'})), then run again; or read by a cursor column with incremental: "
        "{cursor: ...}"
    )
    assert not (tmp_path / "out").exists()


def test_vacuumed_change_files_stop_the_run_with_the_way_out(tmp_path: pathlib.Path) -> None:
    harness = FlowHarness(tmp_path)
    source = tmp_path / "source"
    write_deltalake(
        str(source), rows(range(5)), configuration={"delta.enableChangeDataFeed": "true"}
    )
    spec = {"f": flows(tmp_path, source)["to_sqlite"]}
    harness.run_ok(spec)
    write_deltalake(str(source), rows([7]), mode="append")  # version 1: a file of its own
    DeltaTable(str(source)).delete("id = 7")  # version 2 removes that file
    DeltaTable(str(source)).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False
    )
    [result] = harness.run(spec)
    assert result.status == "failed"
    assert result.error is not None
    # (hygge-sql's store names its table before an error of the home's)
    prefix = f"table 't': delta table {source}: cannot read the change data feed of version 1 ("
    assert result.error.startswith(prefix), result.error
    assert result.error.endswith(
        "); its log entry or change files are gone (expired by delta.logRetentionDuration, "
        "or removed by VACUUM) or the feed was off then. Run the flow with --full-refresh to "
        "load the table again from its current version (or, to append the snapshot to a "
        "change log, 'hygge state reset' the flow and run it)"
    )
    # Nothing of the failed run landed.
    assert sqlite_rows(tmp_path / "merge.db") == [(i, f"a{i}", i * 1.5) for i in range(5)]
    # The way out the message gives: reload in full from the current version.
    path = harness.write(spec)
    again = run_hygge("run", str(path), "--full-refresh")
    assert again.returncode == 0, again.stdout + again.stderr
    assert sqlite_rows(tmp_path / "merge.db") == source_rows(source)
    DeltaTable(str(source)).delete("id = 1")  # and the feed is followed from there
    harness.run_ok(spec)
    assert sqlite_rows(tmp_path / "merge.db") == source_rows(source)


STORES = {
    "sqlite": ("to_sqlite", "commit.published"),
    "delta": ("to_delta", "commit.logged"),
    "parquet": ("to_log", "commit.move"),
}


@pytest.mark.parametrize("store", list(STORES))
@pytest.mark.parametrize("point", ["unit.staged", "commit.store", "commit.done"])
def test_a_run_killed_anywhere_reads_its_changes_once_on_rerun(
    tmp_path: pathlib.Path, store: str, point: str
) -> None:
    name, own = STORES[store]
    point = own if point == "commit.store" else point
    harness = FlowHarness(tmp_path)
    source = tmp_path / "source"
    write_deltalake(
        str(source), rows(range(30)), configuration={"delta.enableChangeDataFeed": "true"}
    )
    spec = {name: flows(tmp_path, source)[name]}
    harness.run_ok(spec)
    write_deltalake(str(source), rows(range(30, 40)), mode="append")
    DeltaTable(str(source)).delete("id % 4 = 0")
    DeltaTable(str(source)).update(updates={"name": "'u'"}, predicate="id < 10")
    killed = run_hygge("run", str(harness.write(spec)), kill=Kill(point=point))
    assert killed.returncode == -9, f"{point} was not reached:\n{killed.stdout}{killed.stderr}"
    DeltaTable(str(source)).delete("id IN (1, 31)")
    harness.run_ok(spec)
    want = source_rows(source)
    if store == "sqlite":
        assert sqlite_rows(tmp_path / "merge.db") == want
    elif store == "delta":
        assert delta_rows(tmp_path / "merged") == want
    else:
        log = pq.read_table(tmp_path / "log")
        expected = [(*r.values(), "insert", 0) for r in rows(range(30)).to_pylist()]
        expected += feed(source, 1, DeltaTable(str(source)).version())
        got = [(*(r[c] for c in COLUMNS), r["_op"], r["_lsn"]) for r in log.to_pylist()]
        assert collections.Counter(got) == collections.Counter(expected), f"killed at {point}"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"version": 3},
            "incremental_by: version reads up to the current version; remove version:/as_of: "
            "(time travel) or incremental_by:",
        ),
        (
            {"incremental": {"cursor": "id"}},
            "set incremental: {cursor: ...} or incremental_by: version, not both",
        ),
        (
            {"filter": [["id", ">", 3]]},
            "filter: cannot be combined with incremental_by: version: an update that moves a "
            "row out of the filter would never reach the store, which would keep the row's old "
            "copy; drop filter:",
        ),
    ],
)
def test_options_that_cannot_go_with_the_feed_are_config_errors(
    tmp_path: pathlib.Path, extra: dict[str, Any], message: str
) -> None:
    harness = FlowHarness(tmp_path)
    home = {"type": "delta", "path": str(tmp_path / "t"), "incremental_by": "version", **extra}
    with pytest.raises(ConfigError) as caught:
        harness.run({"f": {"home": home, "store": {"type": "parquet", "path": "out"}}})
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{harness.root / 'flows-1.yaml'}:")


def test_a_stretch_without_the_feed_is_not_skipped(tmp_path: pathlib.Path) -> None:
    harness = FlowHarness(tmp_path)
    source = tmp_path / "source"
    write_deltalake(
        str(source), rows(range(4)), configuration={"delta.enableChangeDataFeed": "true"}
    )
    spec = {"f": flows(tmp_path, source)["to_sqlite"]}
    harness.run_ok(spec)
    table = DeltaTable(str(source))
    table.alter.set_table_properties({"delta.enableChangeDataFeed": "false"})  # version 1
    DeltaTable(str(source)).delete("id = 2")  # version 2, recorded by no feed
    DeltaTable(str(source)).alter.set_table_properties({"delta.enableChangeDataFeed": "true"})
    DeltaTable(str(source)).delete("id = 3")
    [result] = harness.run(spec)
    assert result.status == "failed"
    assert result.error is not None
    assert (
        f"delta table {source}: cannot read the change data feed of version 1 (External "
        "error: Change Data not enabled for version: 1, Start: 1, End: 1); its log entry"
    ) in result.error
    # Reloading in full gets past it.
    again = run_hygge("run", str(harness.write(spec)), "--full-refresh")
    assert again.returncode == 0, again.stdout + again.stderr
    assert sqlite_rows(tmp_path / "merge.db") == source_rows(source)
