"""Incremental reads of a Parquet home: strict `>` boundary, state in the store, reset."""

from __future__ import annotations

import datetime as dt
import json
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq

from hygge_core.testing import tables_equal
from tests.conftest import run_cli

UTC = dt.UTC


def rows(ids: list[int], minutes: list[int | None]) -> pa.Table:
    base = dt.datetime(2026, 1, 1, tzinfo=UTC)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "updated_at": pa.array(
                [None if m is None else base + dt.timedelta(minutes=m) for m in minutes],
                pa.timestamp("us", tz="UTC"),
            ),
            "v": pa.array([f"v{i}" for i in ids]),
        }
    )


def setup(tmp_path: pathlib.Path, extra: str = "") -> pathlib.Path:
    (tmp_path / "home").mkdir()
    flows = tmp_path / "flows.yaml"
    flows.write_text(f"""
flows:
  events:
    home:
      type: parquet
      path: {tmp_path}/home
      incremental: {{cursor: updated_at{extra}}}
    store: {{type: parquet, path: {tmp_path}/lake, mode: append}}
""")
    return flows


def test_three_runs_land_every_new_row_exactly_once(tmp_path: pathlib.Path) -> None:
    flows = setup(tmp_path)
    first = rows([1, 2, 3, 4], [10, 20, 30, None])  # a NULL cursor: read by the full load
    pq.write_table(first, tmp_path / "home" / "a.parquet")
    assert run_cli("run", str(flows)).code == 0
    # Inserted rows, one exactly at the boundary (30 min: not newer, so not read again
    # unless it is a new row — it is, so it must carry a newer cursor to be seen).
    second = rows([5, 6], [30, 31])
    pq.write_table(second, tmp_path / "home" / "b.parquet")
    r2 = run_cli("run", str(flows))
    assert r2.code == 0, r2.text
    third = rows([7, 8], [45, 50])
    pq.write_table(third, tmp_path / "home" / "c.parquet")
    assert run_cli("run", str(flows)).code == 0
    landed = pq.read_table(tmp_path / "lake")
    # Row 5 sits exactly on the committed cursor (30): strict `>` leaves it out, as
    # documented; every other new row landed once.
    want = pa.concat_tables([first, second.slice(1), third])
    assert tables_equal(landed, want)
    state = json.loads((tmp_path / "lake/_hygge/state/events.json").read_text())
    assert [r["rows"] for r in state["runs"]] == [4, 1, 2]


def test_state_show_and_reset(tmp_path: pathlib.Path) -> None:
    flows = setup(tmp_path)
    pq.write_table(rows([1, 2], [10, 20]), tmp_path / "home" / "a.parquet")
    assert run_cli("run", str(flows)).code == 0
    shown = run_cli("state", "show", str(flows))
    assert shown.code == 0, shown.text
    assert "events: cursor updated_at = 2026-01-01 00:20:00+00:00" in shown.out
    assert "append  2 rows" in shown.out
    as_json = json.loads(run_cli("state", "show", str(flows), "--json").out)
    assert as_json["events"]["cursor"]["arrow_type"] == "timestamp:us:UTC"
    # A second run reads nothing new.
    again = run_cli("run", str(flows), "--log-format", "json")
    assert json.loads(again.out)["flows"][0]["rows"] == 0
    reset = run_cli("state", "reset", str(flows), "--flow", "events")
    assert reset.code == 0 and "events: state reset" in reset.out
    assert "no state (the next run is a full load)" in run_cli("state", "show", str(flows)).out
    full = run_cli("run", str(flows), "--log-format", "json")
    assert json.loads(full.out)["flows"][0]["rows"] == 2


def test_start_bounds_the_first_load(tmp_path: pathlib.Path) -> None:
    flows = setup(tmp_path, ", start: '2026-01-01T00:15:00+00:00'")
    pq.write_table(rows([1, 2, 3], [10, 20, None]), tmp_path / "home" / "a.parquet")
    assert run_cli("run", str(flows)).code == 0
    assert pq.read_table(tmp_path / "lake").column("id").to_pylist() == [2]


def test_row_groups_below_the_cursor_are_skipped(tmp_path: pathlib.Path) -> None:
    flows = setup(tmp_path)
    table = rows(list(range(1000)), list(range(1000)))
    pq.write_table(table, tmp_path / "home" / "a.parquet", row_group_size=100)
    assert run_cli("run", str(flows)).code == 0
    pq.write_table(rows([1000], [2000]), tmp_path / "home" / "b.parquet")
    plan = run_cli("run", str(flows), "--dry-run")
    # Only the new file is planned: statistics prove a.parquet has nothing newer.
    assert "1 work unit(s)" in plan.out and "b.parquet" in plan.out, plan.out


def test_lookback_with_append_is_refused(tmp_path: pathlib.Path) -> None:
    flows = setup(tmp_path, ", lookback: 1 hour")
    result = run_cli("run", str(flows))
    assert result.code == 2
    assert "field 'incremental.lookback'" in result.err
    assert "use store mode: merge" in result.err


def test_cursor_column_that_does_not_exist(tmp_path: pathlib.Path) -> None:
    (tmp_path / "home").mkdir()
    pq.write_table(rows([1], [1]), tmp_path / "home" / "a.parquet")
    flows = tmp_path / "flows.yaml"
    flows.write_text(f"""
flows:
  events:
    home: {{type: parquet, path: {tmp_path}/home, incremental: {{cursor: updated}}}}
    store: {{type: parquet, path: {tmp_path}/lake}}
""")
    result = run_cli("run", str(flows))
    assert result.code == 1
    assert "cursor column 'updated' does not exist in the home; did you mean 'updated_at'?" in (
        result.out
    )
    assert not (tmp_path / "lake").exists() or not list((tmp_path / "lake").glob("*.parquet"))
