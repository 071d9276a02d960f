"""What one run may change without editing flows.yaml: `--mode`, `--full-refresh`, and a
flow's own `timeout:`."""

from __future__ import annotations

import json
import pathlib
import sqlite3

import pyarrow.parquet as pq

from tests.conftest import run_cli


def _source(db: pathlib.Path, ids: range) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ev (id INTEGER PRIMARY KEY, v TEXT)")
        conn.executemany("INSERT OR REPLACE INTO ev VALUES (?, ?)", [(i, f"v{i}") for i in ids])


def _flows(tmp_path: pathlib.Path, extra: str = "") -> pathlib.Path:
    path = tmp_path / "flows.yaml"
    path.write_text(
        f"""flows:
  ev:
    home: {{type: sql, url: "sqlite:///app.db", table: ev, incremental: {{cursor: id}}}}
    store: lake/ev/
{extra}"""
    )
    return path


def _ids(tmp_path: pathlib.Path) -> list[int]:
    return sorted(pq.read_table(tmp_path / "lake" / "ev").column("id").to_pylist())


def test_full_refresh_reads_everything_and_replaces_the_store(tmp_path: pathlib.Path) -> None:
    _source(tmp_path / "app.db", range(0, 5))
    path = _flows(tmp_path)
    assert run_cli("run", str(path), cwd=tmp_path).code == 0
    _source(tmp_path / "app.db", range(5, 8))
    result = run_cli("run", str(path), cwd=tmp_path)
    assert "[ev] committed 3 rows" in result.err, result.text
    assert _ids(tmp_path) == list(range(8))
    # Rows below the cursor changed at the source: only a full refresh sees them, and it
    # replaces what the append store held instead of appending a second copy.
    result = run_cli("run", str(path), "--full-refresh", cwd=tmp_path)
    assert result.code == 0, result.text
    assert "[ev] committed 8 rows" in result.err
    assert _ids(tmp_path) == list(range(8))
    shown = run_cli("state", "show", str(path), "--json", cwd=tmp_path)
    state = json.loads(shown.out)["ev"]
    assert state["cursor"]["value"] == 7
    assert [r["mode"] for r in state["runs"]] == ["append", "append", "replace"]
    # The next plain run goes on from the refreshed cursor.
    result = run_cli("run", str(path), cwd=tmp_path)
    assert "[ev] committed 0 rows" in result.err, result.text


def test_mode_replace_overrides_append_for_one_run(tmp_path: pathlib.Path) -> None:
    _source(tmp_path / "app.db", range(0, 4))
    path = tmp_path / "flows.yaml"
    path.write_text(
        'flows:\n  ev:\n    home: {type: sql, url: "sqlite:///app.db", table: ev}\n'
        "    store: lake/ev/\n"
    )
    for _ in range(2):
        assert run_cli("run", str(path), cwd=tmp_path).code == 0
    assert _ids(tmp_path) == sorted([*range(4), *range(4)])
    result = run_cli("run", str(path), "--mode", "replace", cwd=tmp_path)
    assert result.code == 0, result.text
    assert _ids(tmp_path) == list(range(4))


def test_mode_the_store_cannot_do_and_clashing_options_are_refused(tmp_path: pathlib.Path) -> None:
    _source(tmp_path / "app.db", range(0, 4))
    path = _flows(tmp_path)
    result = run_cli("run", str(path), "--full-refresh", "--mode", "append", cwd=tmp_path)
    assert result.code == 2
    assert result.err.strip() == (
        "error: --full-refresh replaces each store's data, so it cannot run with --mode "
        "append; drop one of them"
    )
    csv = tmp_path / "csv.yaml"
    csv.write_text(
        'flows:\n  ev:\n    home: {type: sql, url: "sqlite:///app.db", table: ev}\n'
        "    store: {type: csv, path: out/ev.csv, keys: [id], mode: merge}\n"
    )
    result = run_cli("run", str(csv), "--mode", "merge", cwd=tmp_path)
    assert result.code == 2
    assert result.err.splitlines()[:2] == [
        f"{csv}:4:12: flow 'ev' → store → field 'mode': store type 'csv' does not support "
        "mode 'merge' (asked by --mode)",
        "    hint: supported: append, replace, replace_partitions; leave this flow out of the run "
        "(--flow) or "
        "drop --mode",
    ]


def test_a_flow_past_its_timeout_fails_and_commits_nothing(tmp_path: pathlib.Path) -> None:
    _source(tmp_path / "app.db", range(0, 4))
    path = _flows(tmp_path, "    timeout: 1s\n")
    # The first batch staged pauses 3 s: the flow is then past its timeout.
    result = run_cli("run", str(path), cwd=tmp_path, env={"HYGGE_FAULTS": "batch.staged@1=sleep:3"})
    assert result.code == 1, result.text
    assert (
        "[ev] FAILED: timed out: ran past its timeout: 1s; nothing was committed and its "
        "state is unchanged" in result.err
    )
    assert not list((tmp_path / "lake" / "ev").glob("*.parquet"))
    shown = run_cli("state", "show", str(path), cwd=tmp_path)
    assert "ev: no state (the next run is a full load)" in shown.out
    # Without the pause the same flow runs well within its timeout.
    result = run_cli("run", str(path), cwd=tmp_path)
    assert result.code == 0, result.text
    assert _ids(tmp_path) == list(range(4))


def test_a_timeout_that_is_no_duration_is_refused(tmp_path: pathlib.Path) -> None:
    path = _flows(tmp_path, "    timeout: soon\n")
    result = run_cli("validate", str(path), cwd=tmp_path)
    assert result.code == 2
    assert result.err.splitlines()[:2] == [
        f"{path}:5:14: flow 'ev' → field 'timeout': 'soon' is not a duration; write e.g. "
        "'30s', '10 minutes', '2h', or a number of seconds",
        f"1 problem in {path}",
    ]
