"""Real runs push their metrics to the real Pushgateway; read back and checked exactly."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from hygge_core.testing import FlowHarness, hygge_imports

from .readback import Gateway, labels_of, samples

pytestmark = pytest.mark.services


def three_flows(h: FlowHarness, tmp_path: Path) -> dict[str, Any]:
    """Two flows that move 3 and 5 rows, and one whose home file does not exist."""
    return {
        "small": {
            "home": h.parquet_source(pa.table({"id": [1, 2, 3]}), "small"),
            "store": h.parquet_sink("small_out"),
        },
        "large": {
            "home": h.parquet_source(pa.table({"id": list(range(5))}), "large"),
            "store": h.parquet_sink("large_out"),
        },
        "broken": {
            "home": {"type": "parquet", "path": str(tmp_path / "missing.parquet")},
            "store": h.parquet_sink("broken_out"),
        },
    }


def test_a_run_pushes_rows_failures_and_labels(gateway: Gateway, tmp_path: Path) -> None:
    h = FlowHarness(tmp_path)
    before = time.time()
    results = h.run(
        three_flows(h, tmp_path), metrics={"pushgateway": gateway.url, "job": gateway.job}
    )
    assert {r.name: r.status for r in results} == {
        "small": "ok",
        "large": "ok",
        "broken": "failed",
    }
    text = gateway.text()
    got = samples(text, job=gateway.job)
    assert got[("hygge_flow_rows_total", "small")] == 3
    assert got[("hygge_flow_rows_total", "large")] == 5
    assert got[("hygge_flow_rows_total", "broken")] == 0
    assert got[("hygge_flow_failures_total", "small")] == 0
    assert got[("hygge_flow_failures_total", "broken")] == 1
    assert got[("hygge_flow_runs_total", "broken")] == 1
    assert got[("hygge_flow_last_run_success", "small")] == 1
    assert got[("hygge_flow_last_run_success", "broken")] == 0
    assert got[("hygge_flow_retries_total", "small")] == 0
    by_name = {r.name: r for r in results}
    assert got[("hygge_flow_bytes_total", "large")] == by_name["large"].bytes > 0
    assert got[("hygge_flow_duration_seconds", "small")] == pytest.approx(by_name["small"].seconds)
    assert before <= got[("hygge_flow_last_success_timestamp_seconds", "small")] <= time.time()
    assert ("hygge_flow_last_success_timestamp_seconds", "broken") not in got
    assert ("hygge_flow_lag_seconds", "small") not in got  # not incremental
    # One group per flow: the grouping key is (job, flow).
    assert labels_of(text, "hygge_flow_rows_total", "small") == {
        "job": gateway.job,
        "flow": "small",
        "home_type": "parquet",
        "store_type": "parquet",
        "instance": "",  # the Pushgateway's own, empty: no instance in the grouping key
    }


def test_counters_add_up_and_a_failure_keeps_the_last_success(
    gateway: Gateway, tmp_path: Path
) -> None:
    h = FlowHarness(tmp_path)
    source = h.parquet_source(pa.table({"id": [1, 2, 3, 4]}), "src")
    metrics = {"pushgateway": gateway.url, "job": gateway.job}
    flows = {"f": {"home": source, "store": h.parquet_sink("out", mode="append")}}
    h.run_ok(flows, metrics=metrics)
    first = samples(gateway.text(), job=gateway.job)
    h.run_ok(flows, metrics=metrics)
    second = samples(gateway.text(), job=gateway.job)
    assert second[("hygge_flow_rows_total", "f")] == 8
    assert second[("hygge_flow_runs_total", "f")] == 2
    success = second[("hygge_flow_last_success_timestamp_seconds", "f")]
    assert success >= first[("hygge_flow_last_success_timestamp_seconds", "f")]
    Path(source["path"]).unlink()  # the third run fails
    (failed,) = h.run(flows, metrics=metrics)
    assert failed.status == "failed"
    third = samples(gateway.text(), job=gateway.job)
    assert third[("hygge_flow_rows_total", "f")] == 8
    assert third[("hygge_flow_runs_total", "f")] == 3
    assert third[("hygge_flow_failures_total", "f")] == 1
    assert third[("hygge_flow_last_run_success", "f")] == 0
    assert third[("hygge_flow_last_success_timestamp_seconds", "f")] == success


def test_a_run_of_some_flows_leaves_the_others_groups(gateway: Gateway, tmp_path: Path) -> None:
    h = FlowHarness(tmp_path)
    flows = three_flows(h, tmp_path)
    del flows["broken"]
    metrics = {"pushgateway": gateway.url, "job": gateway.job}
    h.run_ok(flows, metrics=metrics)
    h.run_ok({"small": flows["small"]}, metrics=metrics)
    got = samples(gateway.text(), job=gateway.job)
    assert got[("hygge_flow_rows_total", "small")] == 6
    assert got[("hygge_flow_rows_total", "large")] == 5


def test_incremental_flow_reports_its_lag(gateway: Gateway, tmp_path: Path) -> None:
    h = FlowHarness(tmp_path)
    newest = int(time.time()) - 3600
    at = pa.array([newest - 60, newest], pa.timestamp("s", tz="UTC"))
    home = h.parquet_source(pa.table({"id": [1, 2], "at": at}), "events")
    home["incremental"] = {"cursor": "at"}
    h.run_ok(
        {"events": {"home": home, "store": h.parquet_sink("events_out", mode="append")}},
        metrics={"pushgateway": gateway.url, "job": gateway.job},
    )
    lag = samples(gateway.text(), job=gateway.job)[("hygge_flow_lag_seconds", "events")]
    assert 3600 <= lag <= 3600 + 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_gateway_down_warns_once_and_the_flows_still_succeed(tmp_path: Path) -> None:
    h = FlowHarness(tmp_path)
    down = f"http://127.0.0.1:{free_port()}"
    path = h.write(
        {
            "small": {
                "home": h.parquet_source(pa.table({"id": [1, 2, 3]}), "small"),
                "store": h.parquet_sink("small_out"),
            }
        },
        metrics={"pushgateway": down},
    )
    probe = hygge_imports("run", str(path), prefixes=("prometheus_client",))
    assert probe.returncode == 0, probe.stderr
    warnings = [line for line in probe.stderr.splitlines() if "Pushgateway" in line]
    assert len(warnings) == 1, probe.stderr
    assert warnings[0].startswith(
        f"WARNING hygge.metrics: could not push metrics to the Pushgateway at {down}: "
    )
    assert warnings[0].endswith("(the flows' results are unaffected)")
    assert h.read_parquet_dir(tmp_path / "small_out").num_rows == 3


def test_a_job_with_a_slash_and_a_space_is_one_group(gateway: Gateway, tmp_path: Path) -> None:
    """The grouping key goes into the push URL: a `/` in the job takes the Pushgateway's
    base64 form (`job@base64/...`), a space is percent-encoded; the labels read back are
    the job as written."""
    import base64
    import urllib.request

    from hygge_metrics.export import _group_path

    job = f"{gateway.job}/nightly etl"
    group = _group_path({"job": job, "flow": "small"})
    encoded = base64.urlsafe_b64encode(job.encode()).decode()
    assert group == f"job@base64/{encoded}/flow/small"
    h = FlowHarness(tmp_path)
    flows = three_flows(h, tmp_path)
    del flows["large"], flows["broken"]
    try:
        h.run_ok(flows, metrics={"pushgateway": gateway.url, "job": job})
        text = gateway.text()
        assert labels_of(text, "hygge_flow_rows_total", "small")["job"] == job
        assert samples(text, job=job)[("hygge_flow_rows_total", "small")] == 3
        h.run_ok(flows, metrics={"pushgateway": gateway.url, "job": job})  # adds up
        assert samples(gateway.text(), job=job)[("hygge_flow_rows_total", "small")] == 6
    finally:
        request = urllib.request.Request(f"{gateway.url}/metrics/{group}", method="DELETE")
        urllib.request.urlopen(request, timeout=10)
    assert _group_path({"job": "a b", "flow": ""}) == "job/a%20b/flow@base64/="
