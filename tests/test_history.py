"""`hygge history`: the committed runs of every flow, as text, JSON and an HTML page."""

from __future__ import annotations

import json
import pathlib

import pyarrow as pa

from hygge_core.testing import FlowHarness
from tests.conftest import run_cli


def _two_flows(tmp_path: pathlib.Path) -> tuple[FlowHarness, dict[str, dict[str, object]]]:
    h = FlowHarness(tmp_path)
    flows: dict[str, dict[str, object]] = {
        "users": {
            "home": h.parquet_source(pa.table({"id": [1, 2, 3]}), "users"),
            "store": h.parquet_sink("users_out", mode="append"),
        },
        "orders": {
            "home": h.parquet_source(pa.table({"id": list(range(5))}), "orders"),
            "store": h.parquet_sink("orders_out"),
        },
    }
    return h, flows


def test_history_lists_committed_runs_of_every_flow_as_json(tmp_path: pathlib.Path) -> None:
    h, flows = _two_flows(tmp_path)
    h.run_ok(flows)
    h.run_ok({"users": flows["users"]})
    path = h.write(flows)
    result = run_cli("history", str(path), "--json")
    assert result.code == 0, result.text
    got = {f["flow"]: f for f in json.loads(result.out)}
    assert [r["rows"] for r in got["users"]["runs"]] == [3, 3]
    assert [r["rows"] for r in got["orders"]["runs"]] == [5]
    run = got["orders"]["runs"][0]
    # bytes, seconds and retries are recorded with the commit since this change
    assert run["bytes"] > 0 and run["seconds"] > 0 and run["retries"] == 0
    assert got["users"]["home_type"] == "parquet"
    assert got["orders"]["config"]["store"]["mode"] == "replace"


def test_history_text_is_newest_first_and_flow_filters(tmp_path: pathlib.Path) -> None:
    h, flows = _two_flows(tmp_path)
    h.run_ok(flows)
    path = h.write(flows)
    result = run_cli("history", str(path), "--flow", "orders")
    assert result.code == 0, result.text
    assert "orders" in result.out and "users" not in result.out
    assert " 5 " in result.out
    everything = run_cli("history", str(path))
    assert "users" in everything.out and "orders" in everything.out


def test_history_says_when_a_flow_never_committed(tmp_path: pathlib.Path) -> None:
    _, flows = _two_flows(tmp_path)
    h = FlowHarness(tmp_path)
    path = h.write(flows)
    result = run_cli("history", str(path))
    assert result.code == 0, result.text
    assert "users: no committed run yet" in result.out


def test_history_config_summary_masks_secrets(tmp_path: pathlib.Path) -> None:
    h = FlowHarness(tmp_path)
    flows = {
        "db": {
            "home": h.parquet_source(pa.table({"id": [1]}), "db"),
            "store": {
                "type": "sql",
                "url": "postgresql://hygge:s3cr3t-pw@127.0.0.1:1/nowhere",
                "table": "t_history_mask",
            },
        }
    }
    path = h.write(flows)
    result = run_cli("history", str(path), "--json")
    assert "s3cr3t-pw" not in result.out + result.err
    assert result.code == 1  # the store cannot be reached: its state cannot be read
    (flow,) = json.loads(result.out)
    assert flow["error"] and "***" in flow["config"]["store"]["url"]


def test_history_html_is_one_self_contained_page(tmp_path: pathlib.Path) -> None:
    h, flows = _two_flows(tmp_path)
    h.run_ok(flows)
    path = h.write(flows)
    page = tmp_path / "report.html"
    result = run_cli("history", str(path), "--html", str(page))
    assert result.code == 0, result.text
    html = page.read_text()
    assert html.count("<section class='flow") == 2
    assert "data-flow='users'" in html and "data-flow='orders'" in html
    assert "<svg" in html and "http://" not in html and "https://" not in html
    assert "src=" not in html  # no script, image or frame loaded from anywhere


def test_a_failed_run_after_a_commit_is_kept_and_shown_failing(tmp_path: pathlib.Path) -> None:
    h, flows = _two_flows(tmp_path)
    h.run_ok(flows)
    broken = {**flows["users"], "home": {"type": "parquet", "path": str(tmp_path / "gone.parquet")}}
    failed = h.run({"users": broken})
    assert failed[0].status == "failed"
    path = h.write(flows)
    result = run_cli("history", str(path), "--json")
    assert result.code == 0, result.text
    users = next(f for f in json.loads(result.out) if f["flow"] == "users")
    assert [(r["status"], r["rows"]) for r in users["runs"]] == [("ok", 3), ("failed", 0)]
    assert "gone.parquet" in users["runs"][1]["error"]
    text = run_cli("history", str(path))
    assert f"users run {failed[0].run_id} failed:" in text.out
    page = tmp_path / "page.html"
    assert run_cli("history", str(path), "--html", str(page)).code == 0
    html = page.read_text()
    assert "<tr class='failed'>" in html and "rect class='bar failed'" in html
    # The failure changed neither the data nor the next run: it appends again.
    h.run_ok(flows)
    again = json.loads(run_cli("history", str(path), "--json").out)
    assert [r["status"] for r in again[0]["runs"]] == ["ok", "failed", "ok"]


def test_a_flow_that_never_committed_gains_no_state_by_failing(tmp_path: pathlib.Path) -> None:
    h, flows = _two_flows(tmp_path)
    broken = {**flows["users"], "home": {"type": "parquet", "path": str(tmp_path / "gone.parquet")}}
    (tmp_path / "users_out").mkdir()
    assert h.run({"users": broken})[0].status == "failed"
    assert list((tmp_path / "users_out").iterdir()) == []
