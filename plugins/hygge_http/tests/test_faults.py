"""500s, 429 with Retry-After, resets, slow answers: retried to an exact result; a
malformed page fails the flow, naming URL, page and reason, and leaves the store as it was."""

from __future__ import annotations

import pathlib
import time
from typing import Any

from fakeapi import FakeApi, Faults

from hygge_core.testing import FlowHarness


def flow(api: FakeApi, harness: FlowHarness, **extra: Any) -> dict[str, Any]:
    home = {"type": "http", "url": f"{api.url}/link/items", "paginate": "link", **extra}
    return {"f": {"home": home, "store": harness.parquet_sink()}}


def test_transient_faults_are_retried_to_an_exact_result(
    api: FakeApi, tmp_path: pathlib.Path
) -> None:
    api.generate("items", 3_000)
    api.faults = Faults(
        error_every=5, throttle_every=23, reset_every=7, slow_every=11, slow_seconds=1.0
    )
    harness = FlowHarness(tmp_path)
    started = time.monotonic()
    harness.run_ok(flow(api, harness, backoff=0.01, timeout=0.5))
    seconds = time.monotonic() - started
    got = harness.read_parquet_dir(tmp_path / "sink").sort_by("id")
    assert got.to_pylist() == api.datasets["items"]
    assert seconds >= 1.0, "a 429 with Retry-After: 1 must be waited out"
    assert len(api.requests) > 31 + 31 // 4, "the faults did not happen"


def test_retries_run_out_with_a_clear_error(api: FakeApi, tmp_path: pathlib.Path) -> None:
    api.generate("items", 10)
    api.faults = Faults(error_every=1)
    harness = FlowHarness(tmp_path)
    flows = flow(api, harness, backoff=0.01, retries=2)
    flows["f"]["retry"] = {"attempts": 1}  # the flow's own retry would ask again
    results = harness.run(flows)
    assert results[0].error == (
        f"page 1 of GET {api.url}/link/items: HTTP 500 Internal Server Error, still after 2 retries"
    )
    assert len(api.requests) == 3


def test_rate_limit_spaces_requests(api: FakeApi, tmp_path: pathlib.Path) -> None:
    api.generate("items", 600)  # 6 pages, plus the first page for the types
    harness = FlowHarness(tmp_path)
    started = time.monotonic()
    harness.run_ok(flow(api, harness, rate_limit=5))
    assert time.monotonic() - started >= 6 / 5


def test_malformed_page_fails_and_leaves_the_store_untouched(
    api: FakeApi, tmp_path: pathlib.Path
) -> None:
    api.generate("items", 500)
    harness = FlowHarness(tmp_path)
    harness.run_ok(flow(api, harness))
    before = harness.read_parquet_dir(tmp_path / "sink")
    api.add("items", 100)
    api.faults.malformed_page = 4
    results = harness.run(flow(api, harness))
    assert results[0].status == "failed"
    assert results[0].error == (
        f"page 4 of GET {api.url}/link/items?per_page=100&page=4: the response is not valid "
        "JSON (Unterminated string starting at: line 1 column 20 (char 19)); "
        "Content-Type application/json"
    )
    assert harness.read_parquet_dir(tmp_path / "sink").equals(before)
