"""The run-history page: one self-contained HTML file (`hygge history --html`, `hygge serve`).

Everything is inline — CSS, a few lines of script, SVG charts drawn here — so the page
loads nothing from the network and works from a file, offline, or behind a firewall.
Every value that came from a config or a store is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
import json
from html import escape
from typing import Any

from hygge_core.history import FlowHistory
from hygge_core.report import human_bytes

CHART_RUNS = 20  # bars per chart: the runs a store keeps (hygge_core.state.HISTORY)

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 24px}
header h1{font-size:18px;margin:0}header p{margin:4px 0 0;color:#b9c0cf;font-size:12px}
main{padding:16px 24px;display:grid;gap:16px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:12px 16px}
section.failed{border-left:6px solid #c62828}section.warn{border-left:6px solid #ef8f00}
section.ok{border-left:6px solid #2e7d32}
h2{font-size:16px;margin:0 0 4px}.route{color:#555;font-size:12px;word-break:break-all}
.badge{display:inline-block;padding:1px 8px;border-radius:9px;font-size:12px;color:#fff}
.b-ok{background:#2e7d32}.b-failed{background:#c62828}.b-warn{background:#ef8f00}
.b-none{background:#777}
.charts{display:flex;gap:24px;flex-wrap:wrap;margin:8px 0}
.chart h3{font-size:12px;margin:0;color:#555;font-weight:normal}
rect.bar{fill:#4a78c2}rect.bar.retried{fill:#ef8f00}rect.bar.failed{fill:#c62828}
table{border-collapse:collapse;font-size:12px;margin-top:6px}
td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}tr.retried td{background:#fff4e0}
tr.failed td{background:#fde8e8}
pre{background:#f2f4f7;padding:6px 8px;font-size:12px;overflow:auto;margin:6px 0 0}
.error{color:#c62828;font-weight:bold}button{font-size:12px}
"""

# Tables of runs fold away; nothing else is scripted (the charts are plain SVG).
_JS = """
document.querySelectorAll('button[data-toggle]').forEach(function (b) {
  b.addEventListener('click', function () {
    var t = document.getElementById(b.getAttribute('data-toggle'));
    t.hidden = !t.hidden;
    b.textContent = t.hidden ? 'show runs' : 'hide runs';
  });
});
"""


def render(histories: list[FlowHistory], file: str, now: dt.datetime | None = None) -> str:
    """The whole page for the flows of `file`."""
    now = now or dt.datetime.now(dt.UTC)
    failing = sum(1 for h in histories if _status(h) == "failed")
    sections = "\n".join(_flow(i, h) for i, h in enumerate(histories))
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        # No resource may come from anywhere but this page (and no favicon request).
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        "<link rel='icon' href='data:,'>"
        f"<title>hygge history: {escape(file)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>hygge run history — {escape(file)}</h1>"
        f"<p>{len(histories)} flow(s), {failing} with problems · generated "
        f"{escape(now.isoformat(timespec='seconds'))}</p></header>"
        f"<main>{sections}</main><script>{_JS}</script></body></html>\n"
    )


def _status(h: FlowHistory) -> str:
    if h.error or (h.runs and h.runs[-1].get("status", "ok") == "failed"):
        return "failed"
    if not h.runs:
        return "none"
    return "warn" if h.runs[-1].get("retries", 0) else "ok"


def _flow(i: int, h: FlowHistory) -> str:
    status = _status(h)
    label = {"failed": "failing", "warn": "retried", "ok": "ok", "none": "no runs yet"}[status]
    css = {"failed": "failed", "warn": "warn", "ok": "ok", "none": ""}[status]
    last = h.runs[-1] if h.runs else None
    facts = []
    if last:
        facts.append(f"last run {escape(str(last.get('finished_at', '')))}")
        if last.get("status") == "failed":
            facts.append(f"<span class='error'>failed: {escape(str(last.get('error')))}</span>")
        else:
            facts.append(f"{int(last.get('rows', 0)):,} rows")
    if h.cursor:
        facts.append(f"cursor {escape(h.cursor)}")
    runs = h.runs[-CHART_RUNS:]
    body = (
        f"<p class='error'>cannot read the state: {escape(h.error)}</p>"
        if h.error
        else (
            "<div class='charts'>"
            + _chart("seconds per run", runs, "seconds", lambda v: f"{v:.2f} s")
            + _chart("rows per run", runs, "rows", lambda v: f"{int(v):,}")
            + "</div>"
            + _table(f"runs-{i}", runs)
            if runs
            else "<p>no committed run yet</p>"
        )
    )
    config = escape(json.dumps(h.config, indent=1, default=str))
    return (
        f"<section class='flow {css}' data-flow='{escape(h.flow)}'>"
        f"<h2>{escape(h.flow)} <span class='badge b-{status}'>{label}</span></h2>"
        f"<div class='route'>{escape(h.route)}</div>"
        f"<div>{' · '.join(facts)}</div>{body}"
        f"<details><summary>config ({escape(h.home_type)} → {escape(h.store_type)}, "
        f"secrets masked)</summary><pre>{config}</pre></details></section>"
    )


def _chart(title: str, runs: list[dict[str, Any]], key: str, fmt: Any) -> str:
    """A bar chart of `key` over the runs, oldest left; retried runs amber, failed red."""
    width, height, gap = 320, 90, 2
    values = [float(r.get(key, 0) or 0) for r in runs]
    top = max(values) or 1.0
    bar = max(2, (width - gap * len(runs)) // max(1, len(runs)))
    rects = []
    for n, (run, value) in enumerate(zip(runs, values, strict=True)):
        h = max(1, round(value / top * (height - 14)))
        failed = run.get("status") == "failed"
        if failed:  # a failed run moved nothing: a short red bar still marks it
            h = max(h, 12)
        cls = "bar failed" if failed else "bar retried" if run.get("retries") else "bar"
        tip = escape(
            f"{run.get('finished_at', '')}: "
            + (f"failed: {run.get('error')}" if failed else fmt(value))
        )
        rects.append(
            f"<rect class='{cls}' x='{n * (bar + gap)}' y='{height - h}' width='{bar}' "
            f"height='{h}'><title>{tip}</title></rect>"
        )
    return (
        f"<div class='chart'><h3>{escape(title)} (max {escape(fmt(top))})</h3>"
        f"<svg role='img' width='{width}' height='{height}' viewBox='0 0 {width} {height}'>"
        f"<title>{escape(title)}</title>{''.join(rects)}</svg></div>"
    )


def _table(ident: str, runs: list[dict[str, Any]]) -> str:
    head = "".join(
        f"<th>{c}</th>" for c in ("finished", "run", "mode", "rows", "bytes", "seconds", "retries")
    )
    rows = []
    for r in reversed(runs):
        cls = "failed" if r.get("status") == "failed" else "retried" if r.get("retries") else ""
        cells = (
            escape(str(r.get("finished_at", ""))),
            escape(str(r.get("run_id", ""))),
            escape(str(r.get("mode", ""))),
            f"{int(r.get('rows', 0)):,}",
            human_bytes(int(r.get("bytes", 0) or 0)),
            f"{float(r.get('seconds', 0) or 0):.2f}",
            str(r.get("retries", 0)),
        )
        rows.append(f"<tr class='{cls}'>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        f"<button type='button' data-toggle='{ident}'>hide runs</button>"
        f"<table id='{ident}'><tr>{head}</tr>{''.join(rows)}</table>"
    )
