"""OpenTelemetry: spans per flow and unit, and the run's metrics, checked with the SDK's
in-memory exporters and with a real OTLP/HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import gzip
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hygge_metrics import otel

from hygge_core.testing import FlowHarness


def _flows(h: FlowHarness, tmp_path: Path) -> dict[str, Any]:
    return {
        "small": {
            "home": h.parquet_source(pa.table({"id": list(range(30))}), "small", units=3),
            "store": h.parquet_sink("small_out"),
        },
        "broken": {
            "home": {"type": "parquet", "path": str(tmp_path / "missing.parquet")},
            "store": h.parquet_sink("broken_out"),
        },
    }


def test_spans_and_metrics_reach_the_in_memory_exporters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans, metrics = InMemorySpanExporter(), HeldMetrics()
    real = otel.export
    monkeypatch.setattr(
        otel,
        "export",
        lambda s, r, t: real(s, r, t, span_exporter=spans, metric_exporter=metrics),
    )
    h = FlowHarness(tmp_path)
    # Port 9 (discard) is never contacted: the exporters are the in-memory ones.
    h.run(_flows(h, tmp_path), metrics={"otlp": "http://127.0.0.1:9"})
    got = {s.name: s for s in spans.get_finished_spans()}
    flow = got["flow small"]
    assert flow.attributes is not None and flow.attributes["hygge.rows"] == 30
    assert flow.attributes["hygge.status"] == "ok" and flow.status.is_ok
    units = [s for s in got.values() if s.name.startswith("unit ")]
    assert len(units) == 3
    assert {u.parent.span_id for u in units if u.parent} == {flow.context.span_id}
    assert sum(int((u.attributes or {})["hygge.rows"]) for u in units) == 30
    assert all(flow.start_time <= u.start_time <= u.end_time <= flow.end_time for u in units)
    broken = got["flow broken"]
    assert not broken.status.is_ok and "missing.parquet" in (broken.status.description or "")
    points = _points(metrics.data)
    assert points[("hygge.flow.rows", "small")] == 30
    assert points[("hygge.flow.failures", "broken")] == 1
    assert points[("hygge.flow.failures", "small")] == 0
    assert points[("hygge.flow.duration", "small")] == 1  # one histogram observation


class HeldMetrics:
    """A metric exporter that keeps what it is given (the SDK has none in memory)."""

    data: Any = None

    def export(self, data: Any, **options: Any) -> Any:
        from opentelemetry.sdk.metrics.export import MetricExportResult

        self.data = data
        return MetricExportResult.SUCCESS


def _points(data: Any) -> dict[tuple[str, str], float]:
    """(metric, flow) → value: a counter's sum, a histogram's count."""
    out: dict[tuple[str, str], float] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for p in m.data.data_points:
                    value = p.count if hasattr(p, "bucket_counts") else p.value
                    out[(m.name, str(p.attributes["flow"]))] = value
    return out


class Receiver:
    """A tiny OTLP/HTTP collector: keeps each request's decoded protobuf by path."""

    def __init__(self) -> None:
        self.requests: dict[str, list[Any]] = {"/v1/traces": [], "/v1/metrics": []}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
                    ExportMetricsServiceRequest,
                )
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                    ExportTraceServiceRequest,
                )

                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                kind = {"/v1/traces": ExportTraceServiceRequest,
                        "/v1/metrics": ExportMetricsServiceRequest}[self.path]  # fmt: skip
                message = kind()
                message.ParseFromString(body)
                receiver.requests[self.path].append(message)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_a_real_otlp_http_receiver_gets_traces_and_metrics(
    tmp_path: Path, receiver: Receiver
) -> None:
    h = FlowHarness(tmp_path)
    h.run(_flows(h, tmp_path), metrics={"otlp": receiver.url, "service_name": "etl-test"})
    spans = {}
    for request in receiver.requests["/v1/traces"]:
        for rs in request.resource_spans:
            service = {a.key: a.value.string_value for a in rs.resource.attributes}
            assert service["service.name"] == "etl-test"
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans[s.name] = {a.key: a.value for a in s.attributes}
    assert spans["flow small"]["hygge.rows"].int_value == 30
    assert spans["flow broken"]["hygge.status"].string_value == "failed"
    assert sum(1 for name in spans if name.startswith("unit ")) == 3
    rows = {}
    for request in receiver.requests["/v1/metrics"]:
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == "hygge.flow.rows":
                        for p in m.sum.data_points:
                            flow = next(a.value.string_value for a in p.attributes
                                        if a.key == "flow")  # fmt: skip
                            rows[flow] = p.as_int
    assert rows == {"small": 30, "broken": 0}


def test_a_collector_that_is_down_costs_a_warning_not_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    h = FlowHarness(tmp_path)
    flows = _flows(h, tmp_path)
    del flows["broken"]
    results = h.run(flows, metrics={"otlp": "http://127.0.0.1:1", "timeout": 2})
    assert [r.status for r in results] == ["ok"]
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == [
        "could not send OpenTelemetry data to http://127.0.0.1:1 (traces, metrics; "
        "the flows' results are unaffected)"
    ]


def test_opentelemetry_is_imported_only_when_otlp_is_set(tmp_path: Path) -> None:
    from hygge_core.testing import hygge_imports

    h = FlowHarness(tmp_path)
    flows = _flows(h, tmp_path)
    del flows["broken"]
    textfile = h.write(flows, metrics={"textfile": str(tmp_path / "hygge.prom")})
    plain = hygge_imports("run", str(textfile), prefixes=("opentelemetry",))
    assert plain.returncode == 0, plain.stderr
    assert plain.modules == []


def test_an_incremental_flow_reports_lag_and_last_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    metrics = HeldMetrics()
    real = otel.export
    monkeypatch.setattr(
        otel,
        "export",
        lambda s, r, t: real(
            s, r, t, span_exporter=InMemorySpanExporter(), metric_exporter=metrics
        ),
    )
    h = FlowHarness(tmp_path)
    newest = int(time.time()) - 3600
    at = pa.array([newest - 60, newest], pa.timestamp("s", tz="UTC"))
    home = h.parquet_source(pa.table({"id": [1, 2], "at": at}), "events")
    home["incremental"] = {"cursor": "at"}
    started = time.time()
    h.run_ok(
        {"events": {"home": home, "store": h.parquet_sink("events_out", mode="append")}},
        metrics={"otlp": "http://127.0.0.1:9"},
    )
    points = _points(metrics.data)
    assert 3600 <= points[("hygge.flow.lag", "events")] <= 3600 + 120
    assert started <= points[("hygge.flow.last_success", "events")] <= time.time()
