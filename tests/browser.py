"""Headless chromium driven over the DevTools protocol: load a page, and see every console
message, uncaught exception and network request it caused, then take a screenshot.

The protocol, not `--dump-dom`, because only its events make "no console errors" and "no
network requests" assertions real: each request the page makes is an event, whatever
scheme or host it names.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class PageLoad:
    """What loading one page did."""

    console: list[str] = field(default_factory=list)  # "level: text"
    errors: list[str] = field(default_factory=list)  # uncaught exceptions, error log entries
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    values: dict[str, Any] = field(default_factory=dict)  # evaluated expressions
    screenshot: bytes = b""


def chromium() -> str:
    """The chromium executable; skip without one (fail when services are required)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        message = "chromium is not installed: `python3 scripts/services.py install`"
        if os.environ.get("HYGGE_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return exe


def load(url: str, expressions: dict[str, str], timeout: float = 60.0) -> PageLoad:
    """Open `url` in a fresh headless chromium, wait for its load event and a moment for
    scripts, evaluate `expressions` (name → JavaScript) and take a full-page screenshot."""
    import websocket  # websocket-client, a test dependency

    profile = tempfile.mkdtemp(prefix="hygge-chromium-")
    proc = subprocess.Popen(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--disable-default-apps", "--disable-sync", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "--window-size=1200,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        ws_url = _devtools_url(proc, timeout)
        ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        try:
            return _drive(ws, url, expressions, timeout)
        finally:
            ws.close()
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _devtools_url(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        found = re.search(r"DevTools listening on (ws://\S+)", line)
        if found:
            return found.group(1)
    raise AssertionError("chromium did not start its DevTools server:\n" + "".join(seen[-20:]))


class _Session:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            self.events.append(json.loads(self.ws.recv()))
            if time.monotonic() > deadline:
                raise AssertionError(f"no {method} within {timeout} s")

    def drain(self, seconds: float) -> None:
        """Collect events for `seconds` (late scripts, late requests)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.ws.settimeout(left)
            try:
                self.events.append(json.loads(self.ws.recv()))
            except Exception:  # the timeout: nothing more came
                return


def _drive(ws: Any, url: str, expressions: dict[str, str], timeout: float) -> PageLoad:
    s = _Session(ws)
    target = s.call("Target.createTarget", url="about:blank")["targetId"]
    session = s.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        s.call(f"{domain}.enable", session)
    s.events.clear()  # about:blank's own events are not the page's
    s.call("Page.navigate", session, url=url)
    s.wait_for("Page.loadEventFired", timeout)
    s.drain(1.0)
    page = PageLoad()
    for name, expression in expressions.items():
        result = s.call("Runtime.evaluate", session, expression=expression, returnByValue=True)
        page.values[name] = result.get("result", {}).get("value")
    shot = s.call("Page.captureScreenshot", session, format="png", captureBeyondViewport=True)
    page.screenshot = base64.b64decode(shot["data"])
    for e in s.events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            page.console.append(f"{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            page.errors.append(details.get("exception", {}).get("description", details["text"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            page.errors.append(params["entry"]["text"])
        elif method == "Network.requestWillBeSent":
            page.requests.append(params["request"]["url"])
    return page
