"""OpenTelemetry: spans per flow and unit, and the run's metrics, as a real OTLP/HTTP
receiver on 127.0.0.1 gets them, decoded with opentelemetry-proto's own messages."""

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


class Receiver:
    """A tiny OTLP/HTTP collector: keeps each request's decoded protobuf by path."""

    def __init__(self) -> None:
        self.requests: dict[str, list[Any]] = {"/v1/traces": [], "/v1/metrics": []}
        self.headers: list[dict[str, str]] = []  # names in lower case
        self.fail: list[int] = []  # statuses to answer first, one request each
        self.unknown_bytes = 0  # bytes of fields opentelemetry-proto's schema does not have
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
                receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                if receiver.fail:
                    self.send_response(receiver.fail.pop(0))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                kind = {"/v1/traces": ExportTraceServiceRequest,
                        "/v1/metrics": ExportMetricsServiceRequest}[self.path]  # fmt: skip
                message = kind()
                message.ParseFromString(body)
                # Bytes under a field number the schema does not know would decode
                # silently: keep how many there were.
                size = message.ByteSize()
                message.DiscardUnknownFields()
                receiver.unknown_bytes += size - message.ByteSize()
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


def _spans(receiver: Receiver) -> dict[str, Any]:
    """Span name → span, of every trace request."""
    spans = {}
    for request in receiver.requests["/v1/traces"]:
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                assert ss.scope.name == "hygge"
                for s in ss.spans:
                    spans[s.name] = s
    return spans


def _attrs(span_or_point: Any) -> dict[str, Any]:
    """A span's or a data point's attributes as Python values."""
    return {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in span_or_point.attributes}


def _metrics(receiver: Receiver) -> dict[str, Any]:
    """Metric name → metric, of every metrics request."""
    return {
        m.name: m
        for request in receiver.requests["/v1/metrics"]
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }


def _points(receiver: Receiver) -> dict[tuple[str, str], float]:
    """(metric, flow) → value: a sum's or a gauge's value, a histogram's count."""
    out: dict[tuple[str, str], float] = {}
    for name, m in _metrics(receiver).items():
        kind = m.WhichOneof("data")
        for p in getattr(m, kind).data_points:
            value = p.count if kind == "histogram" else getattr(p, p.WhichOneof("value"))
            out[(name, _attrs(p)["flow"])] = value
    return out


def test_a_real_otlp_http_receiver_gets_traces_and_metrics(
    tmp_path: Path, receiver: Receiver
) -> None:
    h = FlowHarness(tmp_path)
    results = h.run(_flows(h, tmp_path), metrics={"otlp": receiver.url, "service_name": "etl-test"})
    assert len(receiver.requests["/v1/traces"]) == len(receiver.requests["/v1/metrics"]) == 1
    assert {h["content-type"] for h in receiver.headers} == {"application/x-protobuf"}
    assert receiver.unknown_bytes == 0
    for request in receiver.requests["/v1/traces"]:
        for rs in request.resource_spans:
            service = {a.key: a.value.string_value for a in rs.resource.attributes}
            assert service["service.name"] == "etl-test"
    spans = _spans(receiver)
    flow = spans["flow small"]
    assert len(flow.trace_id) == 16 and len(flow.span_id) == 8 and not flow.parent_span_id
    attrs = _attrs(flow)
    assert attrs["hygge.rows"] == 30 and attrs["hygge.units"] == 3
    assert attrs["hygge.status"] == "ok" and attrs["hygge.home_type"] == "parquet"
    assert attrs["hygge.mode"] == "replace"
    assert flow.status.code == 0  # UNSET: ok
    seconds = {r.name: r.seconds for r in results}
    assert flow.end_time_unix_nano - flow.start_time_unix_nano == int(seconds["small"] * 1e9)
    units = [s for name, s in spans.items() if name.startswith("unit ")]
    assert len(units) == 3
    assert {(u.trace_id, u.parent_span_id) for u in units} == {(flow.trace_id, flow.span_id)}
    assert sum(_attrs(u)["hygge.rows"] for u in units) == 30
    assert all(
        flow.start_time_unix_nano <= u.start_time_unix_nano <= u.end_time_unix_nano
        <= flow.end_time_unix_nano
        for u in units
    )  # fmt: skip
    broken = spans["flow broken"]
    assert broken.trace_id != flow.trace_id  # one trace per flow
    assert _attrs(broken)["hygge.status"] == "failed"
    assert broken.status.code == 2 and "missing.parquet" in broken.status.message  # ERROR
    points = _points(receiver)
    assert points[("hygge.flow.rows", "small")] == 30
    assert points[("hygge.flow.rows", "broken")] == 0
    assert points[("hygge.flow.runs", "broken")] == 1
    assert points[("hygge.flow.failures", "broken")] == 1
    assert points[("hygge.flow.failures", "small")] == 0
    assert points[("hygge.flow.duration", "small")] == 1  # one histogram observation
    assert ("hygge.flow.last_success", "broken") not in points
    assert ("hygge.flow.lag", "small") not in points  # not incremental
    metrics = _metrics(receiver)
    rows = metrics["hygge.flow.rows"]
    assert rows.unit == "{row}" and rows.sum.is_monotonic
    assert rows.sum.aggregation_temporality == 2  # CUMULATIVE
    assert _attrs(rows.sum.data_points[0]).keys() == {"flow", "home_type", "store_type"}
    (duration,) = [
        p for p in metrics["hygge.flow.duration"].histogram.data_points
        if _attrs(p)["flow"] == "small"
    ]  # fmt: skip
    assert duration.sum == pytest.approx(seconds["small"])
    assert list(duration.explicit_bounds)[:3] == [0, 5, 10]
    assert len(duration.bucket_counts) == len(duration.explicit_bounds) + 1
    assert sum(duration.bucket_counts) == 1


def test_a_retryable_answer_is_retried_and_headers_are_sent(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    h = FlowHarness(tmp_path)
    flows = _flows(h, tmp_path)
    del flows["broken"]
    receiver.fail = [503]  # the first request: "try again later"
    h.run_ok(flows, metrics={"otlp": receiver.url, "otlp_headers": {"x-api-key": "k1"}})
    assert len(receiver.headers) == 3  # traces twice, then metrics
    assert {h["x-api-key"] for h in receiver.headers} == {"k1"}
    assert len(receiver.requests["/v1/traces"]) == len(receiver.requests["/v1/metrics"]) == 1
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    receiver.fail = [400, 400]  # a request the collector rejects is not sent again
    h.run_ok(flows, metrics={"otlp": receiver.url})
    assert len(receiver.headers) == 5
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == [
        f"could not send OpenTelemetry data to {receiver.url} (traces, metrics; "
        "the flows' results are unaffected)"
    ]


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


def test_no_opentelemetry_package_is_imported_even_with_otlp(
    tmp_path: Path, receiver: Receiver
) -> None:
    """The requests are encoded by the plugin (issue 20's 2% budget): neither the SDK nor
    opentelemetry-proto's generated code is loaded by a run, and the OTLP module only by a
    run with `otlp:`."""
    from hygge_core.testing import hygge_imports

    h = FlowHarness(tmp_path)
    flows = _flows(h, tmp_path)
    del flows["broken"]
    prefixes = ("opentelemetry", "google.protobuf", "hygge_metrics.otel")
    textfile = h.write(flows, metrics={"textfile": str(tmp_path / "hygge.prom")})
    plain = hygge_imports("run", str(textfile), prefixes=prefixes)
    assert plain.returncode == 0, plain.stderr
    assert plain.modules == []
    otlp = h.write(flows, metrics={"otlp": receiver.url})
    used = hygge_imports("run", str(otlp), prefixes=prefixes)
    assert used.returncode == 0, used.stderr
    assert sorted(used.modules) == ["hygge_metrics.otel"]
    assert len(receiver.requests["/v1/traces"]) == 1


def test_an_incremental_flow_reports_lag_and_last_success(
    tmp_path: Path, receiver: Receiver
) -> None:
    import time

    h = FlowHarness(tmp_path)
    newest = int(time.time()) - 3600
    at = pa.array([newest - 60, newest], pa.timestamp("s", tz="UTC"))
    home = h.parquet_source(pa.table({"id": [1, 2], "at": at}), "events")
    home["incremental"] = {"cursor": "at"}
    started = time.time()
    h.run_ok(
        {"events": {"home": home, "store": h.parquet_sink("events_out", mode="append")}},
        metrics={"otlp": receiver.url},
    )
    points = _points(receiver)
    assert 3600 <= points[("hygge.flow.lag", "events")] <= 3600 + 120
    assert started <= points[("hygge.flow.last_success", "events")] <= time.time()
