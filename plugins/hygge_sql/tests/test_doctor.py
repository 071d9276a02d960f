"""`hygge doctor` on a SQL store: staging tables left by a killed run are reported."""

from __future__ import annotations

import json
import pathlib

import pyarrow as pa

from hygge_core.testing import FlowHarness, run_cli


def test_staging_tables_of_a_killed_run_are_a_warning(
    tmp_path: pathlib.Path, pg_url: str, pg_schema: str
) -> None:
    h = FlowHarness(tmp_path)
    flows = {
        "events": {
            "home": h.parquet_source(pa.table({"id": list(range(300))}), "events", units=3),
            "store": {"type": "sql", "url": pg_url, "table": f"{pg_schema}.events"},
            "parallelism": 1,
        }
    }
    path = h.write(flows)
    killed = run_cli("run", str(path), env={"HYGGE_FAULTS": "unit.staged@2=kill"})
    assert killed.code == -9, killed.text
    result = run_cli("doctor", str(path), "--json")
    assert result.code == 3, result.text
    (warning,) = [f for f in json.loads(result.out)["findings"] if f["level"] == "warning"]
    assert (warning["flow"], warning["check"]) == ("events", "staging")
    assert "staging table(s) of a run that never committed" in warning["message"]
    assert "_hygge_stg_" in warning["message"]
    assert run_cli("run", str(path)).code == 0  # drops them
    healthy = run_cli("doctor", str(path))
    assert healthy.code == 0, healthy.text
    assert "ok      events: staging: no staging table left" in healthy.out
