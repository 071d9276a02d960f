"""metrics_overhead's OTLP receiver: a run counts only when both of its requests arrived
(a collector hygge cannot reach costs it a warning, and would make the run look cheap)."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workloads import OtlpReceiver


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def test_check_wants_one_request_per_signal_since_the_last_check() -> None:
    receiver = OtlpReceiver()
    try:
        assert post(f"{receiver.url}/v1/traces", b"\n\x05bench") == 200
        assert post(f"{receiver.url}/v1/metrics", b"flow bench") == 200
        assert receiver.check() == ""
        assert receiver.check() == (
            "the OTLP receiver got nothing, expected one request of each signal"
        )
        post(f"{receiver.url}/v1/traces", b"bench")
        post(f"{receiver.url}/v1/metrics", b"another flow")  # not the bench flow's
        assert receiver.check() == (
            "the OTLP receiver got {'/v1/traces': 1}, expected one request of each signal"
        )
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
