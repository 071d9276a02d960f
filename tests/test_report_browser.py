"""The HTML history page in a real headless chromium: it loads with no console error and
no network request, and shows every flow; its screenshot is kept as a test artifact."""

from __future__ import annotations

import os
import pathlib

import pyarrow as pa

from hygge_core.testing import FlowHarness
from tests.browser import chromium, load
from tests.conftest import ROOT, run_cli

ARTIFACTS = pathlib.Path(os.environ.get("HYGGE_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def _report(tmp_path: pathlib.Path) -> pathlib.Path:
    h = FlowHarness(tmp_path)
    flows = {
        "users": {
            "home": h.parquet_source(pa.table({"id": list(range(300))}), "users"),
            "store": h.parquet_sink("users_out", mode="append"),
        },
        "orders": {
            "home": h.parquet_source(pa.table({"id": list(range(1200))}), "orders"),
            "store": h.parquet_sink("orders_out"),
        },
    }
    for _ in range(3):
        h.run_ok(flows)
    h.run_ok({"users": flows["users"]})
    gone = {**flows["orders"], "home": {"type": "parquet", "path": str(tmp_path / "gone.parquet")}}
    assert h.run({"orders": gone})[0].status == "failed"  # kept in orders' history
    flows["ledger"] = {  # a store that cannot be reached: the page shows it failing
        "home": h.parquet_source(pa.table({"id": [1]}), "ledger"),
        "store": {"type": "sql", "url": "postgresql+psycopg://app:s3cret@127.0.0.1:1/x",
                  "table": "t_browser_ledger"},
    }  # fmt: skip
    page = tmp_path / "report.html"
    result = run_cli("history", str(h.write(flows)), "--html", str(page))
    assert result.code == 1, result.text  # one flow's state cannot be read
    assert page.exists()
    return page


def test_the_history_page_loads_offline_with_every_flow(tmp_path: pathlib.Path) -> None:
    chromium()
    page = _report(tmp_path)
    loaded = load(
        page.as_uri(),
        {
            "flows": "[...document.querySelectorAll('section.flow')].map(s => s.dataset.flow)",
            "failing": "[...document.querySelectorAll('section.failed')].map(s => s.dataset.flow)",
            "bars": "document.querySelectorAll('section[data-flow=orders] rect.bar').length",
            "failed_bars": "document.querySelectorAll('section[data-flow=orders] rect.failed')"
            ".length",
            "text": "document.body.innerText",
        },
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "history-report.png").write_bytes(loaded.screenshot)
    assert loaded.console == [] and loaded.errors == [], (loaded.console, loaded.errors)
    assert loaded.requests == [page.as_uri()]  # the page itself, nothing else
    assert loaded.values["flows"] == ["users", "orders", "ledger"]
    assert loaded.values["failing"] == ["orders", "ledger"]
    assert loaded.values["bars"] == 8  # 4 runs, in the seconds chart and the rows chart
    assert loaded.values["failed_bars"] == 2  # the failed run, red in both
    assert "s3cret" not in loaded.values["text"]
    assert loaded.screenshot.startswith(b"\x89PNG") and len(loaded.screenshot) > 10_000


def test_the_browser_check_sees_console_errors_and_requests(tmp_path: pathlib.Path) -> None:
    """The assertions above are real: a page that logs an error and fetches an image is
    caught by the same driver."""
    chromium()
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<html><body><img src='http://127.0.0.1:9/pixel.png'>"
        "<script>console.error('boom'); undefinedFunction();</script></body></html>"
    )
    loaded = load(bad.as_uri(), {})
    assert "error: boom" in loaded.console
    assert any("undefinedFunction" in e for e in loaded.errors)
    assert "http://127.0.0.1:9/pixel.png" in loaded.requests
