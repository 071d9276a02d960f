"""hygge-dagster: two flows' assets materialised by Dagster's own in-process execution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hygge_dagster import hygge_assets

from hygge_core.api import history
from hygge_core.testing import FlowHarness


def _flows(h: FlowHarness) -> dict[str, Any]:
    return {
        "users": {
            "home": h.parquet_source(pa.table({"id": list(range(7))}), "users"),
            "store": h.parquet_sink("users_out", mode="append"),
        },
        "daily-orders": {
            "home": h.parquet_source(pa.table({"id": list(range(40))}), "orders", units=3),
            "store": h.parquet_sink("orders_out"),
        },
    }


def _metadata(result: dg.ExecuteInProcessResult, node: str) -> dict[str, Any]:
    (m,) = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in m.metadata.items()}


def test_two_flows_materialise_with_the_run_records_rows(tmp_path: Path) -> None:
    h = FlowHarness(tmp_path)
    path = str(h.write(_flows(h)))
    assets = hygge_assets(path)
    assert [a.key.to_user_string() for a in assets] == ["users", "daily_orders"]
    result = dg.materialize(assets)
    assert result.success
    users, orders = _metadata(result, "users"), _metadata(result, "daily_orders")
    assert users["rows"] == 7 and orders["rows"] == 40
    assert orders["units"] == 3 and orders["mode"] == "replace" and orders["bytes"] > 0
    # The rows landed, and the metadata is the committed run record.
    assert pq.read_table(tmp_path / "orders_out").num_rows == 40
    (state,) = history(path, ["users"])
    assert users["run_id"] == state.runs[-1]["run_id"]
    # A second materialisation appends again: the store's history has both runs.
    again = dg.materialize(hygge_assets(path, flows=["users"]))
    assert _metadata(again, "users")["rows"] == 7
    assert pq.read_table(tmp_path / "users_out").num_rows == 14


def test_a_failing_flow_fails_its_asset_with_hygges_message(tmp_path: Path) -> None:
    h = FlowHarness(tmp_path)
    flows = _flows(h)
    flows["users"]["home"] = {"type": "parquet", "path": str(tmp_path / "missing.parquet")}
    result = dg.materialize(hygge_assets(str(h.write(flows))), raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "hygge flow users:" in str(failure.step_failure_data.user_failure_data.description)
    assert "missing.parquet" in str(failure.step_failure_data.user_failure_data.description)
    assert len(result.asset_materializations_for_node("daily_orders")) == 1


def test_a_bad_flows_file_fails_when_the_definitions_load(tmp_path: Path) -> None:
    path = tmp_path / "flows.yaml"
    path.write_text("flows:\n  f:\n    home: {type: parquet}\n    store: out/\n")
    with pytest.raises(dg.DagsterInvariantViolationError, match=r"flows.yaml:3"):
        hygge_assets(str(path))
