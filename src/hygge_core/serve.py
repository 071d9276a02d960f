"""`hygge serve`: the run-history page live, with `/metrics` and `/health`, on the stdlib's
http.server — a local convenience, not a production web server.

Every request reads the stores' state afresh, so the page and the metrics show the last
commit without a restart. `/metrics` is Prometheus' text format, written here (hygge-core
does not depend on a metrics library): per flow, from the last committed run, and whether
the last recorded run failed.
`/health` answers 200 when every flow's state can be read, else 503, with JSON naming the
flows that cannot.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from hygge_core.dashboard import render
from hygge_core.history import FlowHistory, collect

if TYPE_CHECKING:
    from hygge_core.config.resolve import Plan
    from hygge_core.plugins import Registry

_GAUGES = (
    ("hygge_history_last_rows", "rows", "Rows of the flow's last committed run."),
    ("hygge_history_last_bytes", "bytes", "Bytes of the flow's last committed run."),
    ("hygge_history_last_duration_seconds", "seconds", "Seconds of the last committed run."),
    ("hygge_history_last_run_success", None, "1 if the flow's last recorded run committed."),
    ("hygge_history_runs_kept", None, "Runs (committed and failed) the flow's store keeps."),
    ("hygge_history_state_readable", None, "1 if the flow's state could be read, else 0."),
)


def metrics_text(histories: list[FlowHistory]) -> str:
    """Gauges per flow from the committed history, in Prometheus' text format."""
    lines = []
    for name, key, help_text in _GAUGES:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for h in histories:
            if name == "hygge_history_state_readable":
                value: float = 0 if h.error else 1
            elif name == "hygge_history_runs_kept":
                value = len(h.runs)
            elif name == "hygge_history_last_run_success" and h.runs:
                value = 0 if h.runs[-1].get("status") == "failed" else 1
            elif committed := [r for r in h.runs if r.get("status", "ok") == "ok"]:
                value = float(committed[-1].get(key or "", 0) or 0)
            else:
                continue
            lines.append(f'{name}{{flow="{_label(h.flow)}"}} {value}')
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def make_handler(
    file: str, collect_now: Callable[[], list[FlowHistory]]
) -> type[BaseHTTPRequestHandler]:
    """A request handler class serving `/`, `/metrics` and `/health` for `file`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path not in ("/", "/metrics", "/health"):
                self._send(404, "text/plain", "not found: try /, /metrics or /health\n")
                return
            histories = collect_now()
            if path == "/":
                self._send(200, "text/html; charset=utf-8", render(histories, file))
            elif path == "/metrics":
                self._send(200, "text/plain; version=0.0.4", metrics_text(histories))
            else:
                broken = {h.flow: h.error for h in histories if h.error}
                body = json.dumps({"ok": not broken, "flows": len(histories), "broken": broken})
                self._send(503 if broken else 200, "application/json", body + "\n")

        def _send(self, code: int, kind: str, body: str) -> None:
            data = body.encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: a probe every few seconds would flood the terminal

    return Handler


def serve(
    file: str,
    plan: Plan,
    registry: Registry,
    redact: Callable[[str], str],
    host: str,
    port: int,
    say: Callable[..., None],
) -> None:
    """Serve until interrupted."""
    server = ThreadingHTTPServer(
        (host, port), make_handler(file, lambda: collect(plan, registry, redact))
    )
    bound = server.server_address[1]
    say(f"serving {file} on http://{host}:{bound}/ (/metrics, /health); Ctrl-C stops", markup=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
