"""A JSON API on 127.0.0.1 for hygge-http's tests and bench: the standard library's
ThreadingHTTPServer, serving datasets of records with every pagination style, auth
scheme and fault the home must handle.

Paths are `/{style}/{dataset}`: style `plain` (the whole list), `link` (a JSON list, next
page in the Link header), `next_url` (`{"data": [...], "links": {"next": url}}`), `cursor`
(`{"data": [...], "meta": {"next_cursor": token}}`), `page` (`{"items": [...], "total": n}`
with `page`/`per_page`), `offset` (`{"results": [...], "count": n}` with `offset`/`limit`).
Every style takes `since` (records whose `updated_at` is at or after it: coarse, inclusive,
as many APIs are). `POST /oauth/token` hands out client-credentials tokens.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def stamp(seconds: int) -> str:
    """`updated_at` as the API writes it: ISO 8601 with a Z."""
    return (BASE + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def record(i: int, version: int = 0, at: int | None = None) -> dict[str, Any]:
    """Record `i` of a generated dataset (version > 0: updated that many times), changed
    last `at` seconds after BASE (default: `i`)."""
    return {
        "id": i,
        "name": f"item-{i}" + (f"-v{version}" if version else ""),
        "price": round(i * 0.25 + version, 2),
        "active": i % 3 != 0,
        "tags": None if i % 5 == 0 else f"t{i % 7}",
        "updated_at": stamp(i if at is None else at),
    }


@dataclass
class Faults:
    """Faults injected by request count (the n-th request of the server, from 1)."""

    error_every: int = 0  # answer 500
    throttle_every: int = 0  # answer 429 with Retry-After: 1
    reset_every: int = 0  # drop the connection without an answer
    slow_every: int = 0  # answer after `slow_seconds`
    slow_seconds: float = 0.0
    malformed_page: int = 0  # this page number of every stream is broken JSON


@dataclass
class FakeApi:
    """The server's state; tests change it between runs (add, update records)."""

    datasets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    per_page: int = 100
    auth: dict[str, Any] = field(default_factory=dict)  # scheme → its secret(s)
    faults: Faults = field(default_factory=Faults)
    requests: list[str] = field(default_factory=list)  # path?query of every request
    tokens: dict[str, int] = field(default_factory=dict)  # oauth token → uses left
    token_uses: int = 1_000_000
    clock: int = 0  # seconds after BASE of the latest change
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    count: int = 0

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def generate(self, name: str, n: int) -> list[dict[str, Any]]:
        """Records 0..n-1, record i changed at second i."""
        self.datasets[name] = [record(i) for i in range(n)]
        self.clock = max(self.clock, n)
        return self.datasets[name]

    def add(self, name: str, n: int) -> None:
        """n new records, each changed one second after the last change."""
        rows = self.datasets[name]
        start = max((r["id"] for r in rows), default=-1) + 1
        for i in range(start, start + n):
            self.clock += 1
            rows.append(record(i, at=self.clock))

    def update(self, name: str, ids: list[int], version: int) -> None:
        """Records `ids` changed (now, one second apart) to their `version`."""
        rows = self.datasets[name]
        for i, r in enumerate(rows):
            if r["id"] in ids:
                self.clock += 1
                rows[i] = record(r["id"], version, at=self.clock)

    def start(self) -> FakeApi:
        api = self

        class Handler(_Handler):
            state = api

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client killed mid-answer (the kill loops) is expected, not news


class _Handler(BaseHTTPRequestHandler):
    state: FakeApi
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length).decode()
        if self.path != "/oauth/token":  # a search endpoint: the query in a JSON body
            with self.state.lock:
                self.state.requests.append(f"POST {self.path} {raw}")
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            parts = url.path.strip("/").split("/")
            rows = self.state.datasets.get(parts[-1], [])
            search = json.loads(raw or "{}")
            if search.get("active") is not None:
                rows = [r for r in rows if r["active"] == search["active"]]
            if search.get("changed", {}).get("since"):
                since = dt.datetime.fromisoformat(search["changed"]["since"])
                rows = [r for r in rows if dt.datetime.fromisoformat(r["updated_at"]) >= since]
            self._page(parts[0], rows, query, url.path)
            return
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        want = self.state.auth.get("oauth2", {})
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("client_id") != want.get("client_id")
            or form.get("client_secret") != want.get("client_secret")
        ):
            self._send(401, {"error": "invalid_client"})
            return
        with self.state.lock:
            token = f"tok{len(self.state.tokens) + 1}"
            self.state.tokens[token] = self.state.token_uses
        self._send(200, {"access_token": token, "token_type": "bearer", "expires_in": 3600})

    def do_GET(self) -> None:
        st = self.state
        with st.lock:
            st.count += 1
            n = st.count
            st.requests.append(self.path)
        f = st.faults
        if f.reset_every and n % f.reset_every == 0:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if f.error_every and n % f.error_every == 0:
            self._send(500, {"error": "injected"})
            return
        if f.throttle_every and n % f.throttle_every == 0:
            self._send(429, {"error": "slow down"}, {"Retry-After": "1"})
            return
        if f.slow_every and n % f.slow_every == 0:
            time.sleep(f.slow_seconds)
        if int(self.headers.get("content-length") or 0):  # left unread, it would garble
            self._send(400, {"error": "a GET with a body"})  # the connection's next request
            return
        refusal = self._refused()
        if refusal:
            self._send(401, {"error": refusal})
            return
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        if len(parts) != 2 or parts[1] not in st.datasets:
            self._send(404, {"error": f"no {url.path}"})
            return
        style, name = parts
        rows = st.datasets[name]
        if "since" in query:
            since = dt.datetime.fromisoformat(query["since"])
            rows = [r for r in rows if dt.datetime.fromisoformat(r["updated_at"]) >= since]
        self._page(style, rows, query, url.path)

    def _refused(self) -> str | None:
        want = self.state.auth
        header = self.headers.get("authorization", "")
        query = parse_qs(urlparse(self.path).query)
        if "bearer" in want and header != f"Bearer {want['bearer']}":
            return "bad bearer token"
        if "basic" in want:
            user, password = want["basic"]
            expect = base64.b64encode(f"{user}:{password}".encode()).decode()
            if header != f"Basic {expect}":
                return "bad basic credentials"
        if "header" in want:
            name, key = want["header"]
            if self.headers.get(name) != key:
                return "bad api key"
        if "query" in want:
            name, key = want["query"]
            if query.get(name, [""])[0] != key:
                return "bad api key"
        if "oauth2" in want:
            token = header.removeprefix("Bearer ")
            with self.state.lock:
                left = self.state.tokens.get(token, 0)
                if left <= 0:
                    return "expired or unknown token"
                self.state.tokens[token] = left - 1
        return None

    def _page(self, style: str, rows: list[dict[str, Any]], q: dict[str, str], path: str) -> None:
        st = self.state
        size = int(q.get("per_page") or q.get("limit") or st.per_page)
        if style == "cursor":
            start = int(base64.b64decode(q["cursor"]).decode()) if q.get("cursor") else 0
        elif style == "offset":
            start = int(q.get("offset") or 0)
        else:
            start = (int(q.get("page") or 1) - 1) * size
        chunk = rows if style == "plain" else rows[start : start + size]
        number = start // size + 1
        more = style != "plain" and start + size < len(rows)
        if st.faults.malformed_page and number == st.faults.malformed_page:
            self._send(200, None, raw=b'[{"id": 1, "name": "trunc')
            return
        keep = {k: v for k, v in q.items() if k not in ("page", "cursor", "offset")}
        headers: dict[str, str] = {}
        if style in ("plain", "link"):
            body: Any = chunk
            if more:
                nxt = urlencode({**keep, "page": number + 1, "per_page": size})
                first = f'<{st.url}{path}>; rel="first"'
                headers["Link"] = f'<{st.url}{path}?{nxt}>; rel="next", {first}'
        elif style == "next_url":
            nxt = f"{path}?{urlencode({**keep, 'page': number + 1, 'per_page': size})}"
            body = {"data": chunk, "links": {"next": nxt if more else None}}
        elif style == "cursor":
            token = base64.b64encode(str(start + size).encode()).decode() if more else None
            body = {"data": chunk, "meta": {"next_cursor": token}}
        elif style == "page":
            body = {"items": chunk, "total": len(rows)}
        elif style == "offset":
            body = {"results": chunk, "count": len(rows)}
        else:
            self._send(404, {"error": f"no style {style}"})
            return
        self._send(200, body, headers)

    def _send(
        self, status: int, body: Any, headers: dict[str, str] | None = None, raw: bytes = b""
    ) -> None:
        data = raw or json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
