"""The few OTLP protobuf messages hygge sends, encoded by hand (opentelemetry-proto's
`trace.proto`, `metrics.proto`, `common.proto`, `resource.proto` and the collectors'
service requests, v1).

Protobuf's wire format is a sequence of (field number, wire type, value): varints,
little-endian fixed 64-bit numbers, and length-prefixed bytes for strings and nested
messages. Only what hygge writes is here; fields at their default are left out except
inside a `oneof`, where the field present says which one is set.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterable, Sequence
from typing import Any

VARINT, FIXED64, LENGTH = 0, 1, 2
SPAN_KIND_INTERNAL = 1
STATUS_CODE_ERROR = 2
CUMULATIVE = 2  # AggregationTemporality


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s are their two's complement, ten bytes long
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def field_bytes(number: int, value: bytes) -> bytes:
    """A length-delimited field: bytes, a string's UTF-8, or an encoded message."""
    return _key(number, LENGTH) + _varint(len(value)) + value


def field_str(number: int, value: str) -> bytes:
    return field_bytes(number, value.encode())


def field_varint(number: int, value: int) -> bytes:
    return _key(number, VARINT) + _varint(value)


def field_fixed64(number: int, value: int) -> bytes:
    return _key(number, FIXED64) + struct.pack("<Q", value)


def field_sfixed64(number: int, value: int) -> bytes:
    return _key(number, FIXED64) + struct.pack("<q", value)


def field_double(number: int, value: float) -> bytes:
    return _key(number, FIXED64) + struct.pack("<d", value)


def any_value(value: Any) -> bytes:
    """`AnyValue`: string 1, bool 2, int 3, double 4 (bool before int: bool is an int)."""
    if isinstance(value, bool):
        return field_varint(2, int(value))
    if isinstance(value, int):
        return field_varint(3, value)
    if isinstance(value, float):
        return field_double(4, value)
    return field_str(1, str(value))


def attributes(number: int, values: dict[str, Any]) -> bytes:
    """Repeated `KeyValue` (key 1, value 2) as field `number` of the enclosing message."""
    return b"".join(
        field_bytes(number, field_str(1, k) + field_bytes(2, any_value(v)))
        for k, v in values.items()
    )


def resource(values: dict[str, Any]) -> bytes:
    """`Resource` (attributes 1)."""
    return attributes(1, values)


def scope(name: str) -> bytes:
    """`InstrumentationScope` (name 1)."""
    return field_str(1, name)


def span(
    trace_id: bytes,
    span_id: bytes,
    parent_id: bytes,
    name: str,
    start_ns: int,
    end_ns: int,
    values: dict[str, Any],
    error: str | None,
) -> bytes:
    """`Span`: trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6, start 7, end 8,
    attributes 9, status 15 (message 2, code 3); no status is UNSET, which reads as ok."""
    out = [field_bytes(1, trace_id), field_bytes(2, span_id)]
    if parent_id:
        out.append(field_bytes(4, parent_id))
    out += [
        field_str(5, name),
        field_varint(6, SPAN_KIND_INTERNAL),
        field_fixed64(7, start_ns),
        field_fixed64(8, end_ns),
        attributes(9, values),
    ]
    if error is not None:
        out.append(field_bytes(15, field_str(2, error) + field_varint(3, STATUS_CODE_ERROR)))
    return b"".join(out)


def trace_request(resource_: bytes, scope_: bytes, spans: Iterable[bytes]) -> bytes:
    """`ExportTraceServiceRequest` → `ResourceSpans` (resource 1, scope_spans 2) →
    `ScopeSpans` (scope 1, spans 2)."""
    scope_spans = field_bytes(1, scope_) + b"".join(field_bytes(2, s) for s in spans)
    return field_bytes(1, field_bytes(1, resource_) + field_bytes(2, scope_spans))


def int_point(labels: dict[str, str], start_ns: int, time_ns: int, value: int) -> bytes:
    """`NumberDataPoint` with as_int 6 (attributes 7, start 2, time 3)."""
    out = attributes(7, labels) + field_fixed64(3, time_ns) + field_sfixed64(6, value)
    return (field_fixed64(2, start_ns) if start_ns else b"") + out


def double_point(labels: dict[str, str], start_ns: int, time_ns: int, value: float) -> bytes:
    """`NumberDataPoint` with as_double 4."""
    out = attributes(7, labels) + field_fixed64(3, time_ns) + field_double(4, value)
    return (field_fixed64(2, start_ns) if start_ns else b"") + out


def histogram_point(
    labels: dict[str, str], start_ns: int, time_ns: int, value: float, bounds: Sequence[float]
) -> bytes:
    """`HistogramDataPoint` of one observation: attributes 9, start 2, time 3, count 4,
    sum 5, bucket_counts 6 and explicit_bounds 7 (both packed), min 11, max 12. A value
    equal to a bound counts in that bound's bucket (`le`)."""
    counts = [0] * (len(bounds) + 1)
    counts[bisect.bisect_left(bounds, value)] = 1
    return b"".join(
        [
            attributes(9, labels),
            field_fixed64(2, start_ns),
            field_fixed64(3, time_ns),
            field_fixed64(4, 1),
            field_double(5, value),
            field_bytes(6, struct.pack(f"<{len(counts)}Q", *counts)),
            field_bytes(7, struct.pack(f"<{len(bounds)}d", *bounds)),
            field_double(11, value),
            field_double(12, value),
        ]
    )


def metric(name: str, description: str, unit: str, kind: str, points: list[bytes]) -> bytes:
    """`Metric` (name 1, description 2, unit 3) holding a gauge 5, a sum 7 (cumulative,
    monotonic) or a histogram 9 (cumulative) of `points`."""
    data = b"".join(field_bytes(1, p) for p in points)
    if kind == "sum":
        body = field_bytes(7, data + field_varint(2, CUMULATIVE) + field_varint(3, 1))
    elif kind == "histogram":
        body = field_bytes(9, data + field_varint(2, CUMULATIVE))
    else:
        body = field_bytes(5, data)
    return field_str(1, name) + field_str(2, description) + field_str(3, unit) + body


def metrics_request(resource_: bytes, scope_: bytes, metrics: Iterable[bytes]) -> bytes:
    """`ExportMetricsServiceRequest` → `ResourceMetrics` (resource 1, scope_metrics 2) →
    `ScopeMetrics` (scope 1, metrics 2)."""
    scope_metrics = field_bytes(1, scope_) + b"".join(field_bytes(2, m) for m in metrics)
    return field_bytes(1, field_bytes(1, resource_) + field_bytes(2, scope_metrics))
