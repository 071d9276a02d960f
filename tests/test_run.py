"""`hygge run` end to end through the CLI: results, exit codes, output formats."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import sample_table, tables_equal
from tests.conftest import ROOT, run_cli


@pytest.fixture
def data(tmp_path: pathlib.Path) -> pa.Table:
    table = sample_table(20_000, seed=3)
    (tmp_path / "in").mkdir()
    pq.write_table(table.slice(0, 12_000), tmp_path / "in" / "a.parquet", row_group_size=3000)
    pq.write_table(table.slice(12_000), tmp_path / "in" / "b.parquet", row_group_size=3000)
    # Readers skip these: hygge must too.
    (tmp_path / "in" / "_SUCCESS").write_text("")
    (tmp_path / "in" / ".hidden.parquet").write_text("garbage")
    return table


def flows(tmp_path: pathlib.Path, body: str) -> pathlib.Path:
    path = tmp_path / "flows.yaml"
    path.write_text(body)
    return path


def test_example_flows_run_and_print_the_summary(tmp_path: pathlib.Path) -> None:
    # The demo's own steps: make the data, run the example flows.
    subprocess.run([sys.executable, "example/make_data.py"], cwd=ROOT, check=True)
    result = run_cli("run", "example/flows.yaml", cwd=ROOT)
    assert result.code == 0, result.text
    assert "hygge run summary" in result.out
    assert "users" in result.out and "orders" in result.out and "ok" in result.out


def test_directory_to_store_is_exact_and_ordered(tmp_path: pathlib.Path, data: pa.Table) -> None:
    path = flows(
        tmp_path,
        f"""
flows:
  t:
    home: {tmp_path}/in/
    store: {{type: parquet, path: {tmp_path}/out/, row_group_rows: 5000}}
""",
    )
    result = run_cli("run", str(path))
    assert result.code == 0, result.text
    landed = pq.read_table(tmp_path / "out")
    assert landed.equals(data)  # same order too: part files are named in plan order
    assert not list((tmp_path / "out").glob("_hygge_staging/*/*"))


def test_columns_and_glob(tmp_path: pathlib.Path, data: pa.Table) -> None:
    path = flows(
        tmp_path,
        f"""
flows:
  t:
    home: {{type: parquet, path: "{tmp_path}/in/*.parquet", columns: [id, string]}}
    store: {tmp_path}/out/
""",
    )
    assert run_cli("run", str(path)).code == 0
    assert tables_equal(pq.read_table(tmp_path / "out"), data.select(["id", "string"]))


def test_append_then_replace(tmp_path: pathlib.Path, data: pa.Table) -> None:
    body = (
        f"flows:\n  t:\n    home: {tmp_path}/in/\n"
        f"    store: {{type: parquet, path: {tmp_path}/out/, mode: MODE}}\n"
    )
    append = flows(tmp_path, body.replace("MODE", "append"))
    assert run_cli("run", str(append)).code == 0
    assert run_cli("run", str(append)).code == 0
    assert pq.read_table(tmp_path / "out").num_rows == 2 * data.num_rows
    replace = flows(tmp_path, body.replace("MODE", "replace"))
    assert run_cli("run", str(replace)).code == 0
    assert tables_equal(pq.read_table(tmp_path / "out"), data)


def test_one_failing_flow_does_not_stop_the_others(tmp_path: pathlib.Path, data: pa.Table) -> None:
    path = flows(
        tmp_path,
        f"""
flows:
  good:
    home: {tmp_path}/in/
    store: {tmp_path}/good/
  bad:
    home: {tmp_path}/missing.parquet
    store: {tmp_path}/bad/
""",
    )
    result = run_cli("run", str(path))
    assert result.code == 1
    assert pq.read_table(tmp_path / "good").num_rows == data.num_rows
    assert f"bad: no such file or directory: {tmp_path}/missing.parquet" in result.out
    assert "Traceback" not in result.text


def test_fail_fast_skips_flows_not_yet_started(tmp_path: pathlib.Path, data: pa.Table) -> None:
    path = flows(
        tmp_path,
        f"""
flows:
  bad:
    home: {tmp_path}/missing.parquet
    store: {tmp_path}/bad/
  later:
    home: {tmp_path}/in/
    store: {tmp_path}/later/
""",
    )
    result = run_cli("run", str(path), "--fail-fast", "--concurrency", "1")
    assert result.code == 1
    assert "skipped" in result.out
    assert not (tmp_path / "later").exists()


def test_json_log_format(tmp_path: pathlib.Path, data: pa.Table) -> None:
    path = flows(tmp_path, f"flows:\n  t:\n    home: {tmp_path}/in/\n    store: {tmp_path}/o/\n")
    result = run_cli("run", str(path), "--log-format", "json")
    assert result.code == 0, result.text
    events = [json.loads(line) for line in result.err.splitlines()]
    assert [e["event"] for e in events] == ["flow_started", "flow_finished"]
    summary = json.loads(result.out)
    assert summary["ok"] is True and summary["flows"][0]["rows"] == data.num_rows
    flow = summary["flows"][0]
    assert 0 < flow["peak_bytes_held"] <= flow["budget"] == events[0]["budget"]
    assert flow["peak_rss"] == events[1]["peak_rss"] > 0


def test_dry_run_moves_nothing(tmp_path: pathlib.Path, data: pa.Table) -> None:
    path = flows(tmp_path, f"flows:\n  t:\n    home: {tmp_path}/in/\n    store: {tmp_path}/o/\n")
    result = run_cli("run", str(path), "--dry-run")
    assert result.code == 0, result.text
    assert "t: parquet → parquet (mode append, read full), 2 work unit(s)" in result.out
    assert "a.parquet#rg0-3" in result.out
    assert not (tmp_path / "o").exists()


def test_dry_run_of_a_first_incremental_run_reads_full(tmp_path: pathlib.Path, data) -> None:
    """As docs/cli.md says: no committed cursor yet means a full read, not `> None`."""
    body = (
        f"flows:\n  t:\n    home: {{type: parquet, path: {tmp_path}/in/, "
        f"incremental: {{cursor: id}}}}\n    store: {tmp_path}/o/\n"
    )
    path = flows(tmp_path, body)
    first = run_cli("run", str(path), "--dry-run")
    assert first.code == 0, first.text
    assert "t: parquet → parquet (mode append, read full), 2 work unit(s)" in first.out
    assert run_cli("run", str(path)).code == 0
    later = run_cli("run", str(path), "--dry-run")
    assert f"(mode append, read id > {data.num_rows - 1}), " in later.out, later.out


def test_preview_shows_first_rows(tmp_path: pathlib.Path, data: pa.Table) -> None:
    path = flows(tmp_path, f"flows:\n  t:\n    home: {tmp_path}/in/\n    store: {tmp_path}/o/\n")
    result = run_cli("preview", str(path), "--flow", "t", "--limit", "3")
    assert result.code == 0, result.text
    assert "int64" in result.out and "timestamp[us]" in result.out
    assert result.out.count("\n│ ") + result.out.count("\n┃ ") >= 3


def test_version() -> None:
    result = run_cli("--version")
    assert result.code == 0 and result.out.startswith("hygge 0.")
