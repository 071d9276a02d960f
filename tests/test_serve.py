"""`hygge serve`: the history page live, /metrics and /health, from a real server process."""

from __future__ import annotations

import pathlib
import re
import subprocess
import urllib.error
import urllib.request

import pyarrow as pa

from hygge_core.testing import FlowHarness, hygge_executable


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serve_answers_page_metrics_and_health(tmp_path: pathlib.Path) -> None:
    h = FlowHarness(tmp_path)
    flows: dict[str, dict[str, object]] = {
        "users": {
            "home": h.parquet_source(pa.table({"id": [1, 2, 3, 4]}), "users"),
            "store": h.parquet_sink("users_out"),
        }
    }
    h.run_ok(flows)
    path = h.write(flows)
    proc = subprocess.Popen(
        [hygge_executable(), "serve", str(path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, line + (proc.stderr.read() if proc.stderr else "")
        base = f"http://127.0.0.1:{found.group(1)}"
        code, page = _get(base + "/")
        assert code == 200 and "data-flow='users'" in page
        code, metrics = _get(base + "/metrics")
        assert code == 200
        assert 'hygge_history_last_rows{flow="users"} 4.0' in metrics
        assert 'hygge_history_state_readable{flow="users"} 1' in metrics
        code, health = _get(base + "/health")
        assert (code, health.strip()) == (200, '{"ok": true, "flows": 1, "broken": {}}')
        # A second run shows up without a restart.
        h.run_ok(flows)
        assert 'hygge_history_runs_kept{flow="users"} 2' in _get(base + "/metrics")[1]
        assert _get(base + "/nowhere")[0] == 404
    finally:
        proc.terminate()
        proc.wait(timeout=30)
