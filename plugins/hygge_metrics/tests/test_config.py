"""The `metrics:` section is validated like any other part of flows.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from hygge_core.testing import FlowHarness, run_hygge_measured


def test_hygge_plugins_lists_it_with_its_hooks() -> None:
    done = run_hygge_measured("plugins", "--json")
    assert done.returncode == 0, done.stderr
    listed = {p["distribution"]: p for p in json.loads(done.stdout)["plugins"]}
    assert listed["hygge-metrics"]["hooks"] == [
        "hygge_flow_started",
        "hygge_register_settings",
        "hygge_run_finished",
        "hygge_unit_staged",
    ]


def flows(h: FlowHarness) -> dict[str, object]:
    return {
        "small": {
            "home": h.parquet_source(pa.table({"id": [1]}), "small"),
            "store": h.parquet_sink("small_out"),
        }
    }


def test_a_misspelled_field_names_file_line_and_the_close_match(tmp_path: Path) -> None:
    h = FlowHarness(tmp_path)
    message = h.config_error(flows(h), metrics={"pushgatway": "http://127.0.0.1:9091"})
    path = tmp_path / "flows-1.yaml"
    line = path.read_text().splitlines().index("  pushgatway: http://127.0.0.1:9091") + 1
    assert f"{path}:{line}:3" in message
    assert "unknown field 'pushgatway'" in message
    assert "did you mean 'pushgateway'?" in message


def test_metrics_without_a_destination_is_an_error(tmp_path: Path) -> None:
    h = FlowHarness(tmp_path)
    message = h.config_error(flows(h), metrics={"job": "nightly"})
    assert "metrics need a destination: set pushgateway:, textfile:, otlp: or several" in message


def test_a_misspelled_section_suggests_metrics(tmp_path: Path) -> None:
    h = FlowHarness(tmp_path)
    message = h.config_error(flows(h), metrcs={"textfile": "x.prom"})
    assert "unknown field 'metrcs'" in message
    assert "did you mean 'metrics'?" in message
