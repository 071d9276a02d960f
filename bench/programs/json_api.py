"""A JSON API serving the benchmark table, for the HTTP → Parquet workload.

Pages of ``--page`` records at ``/items?page=N&per_page=P`` (a JSON list per page, the next
page in a ``Link: <...>; rel="next"`` header, as GitHub pages), HTTP/1.1 keep-alive,
on 127.0.0.1. Pages are rendered to JSON once, at start-up, so that the server's own cost
is a memory copy per request and the clients' costs are what is measured: times as ISO
8601 text, dates as ``YYYY-MM-DD``, as JSON APIs write them.

Usage: ``json_api.py DATA.parquet PORT_FILE [--page 1000]``; writes the port it listens on
to PORT_FILE once it is ready, then serves until killed.
"""

from __future__ import annotations

import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def render(path: str, size: int) -> list[bytes]:
    """The table's pages as JSON bytes, `size` records each."""
    pages: list[bytes] = []
    pending: list[dict[str, Any]] = []
    for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536):
        arrays = []
        for field, arr in zip(batch.schema, batch.columns, strict=True):
            if pa.types.is_timestamp(field.type):
                arr = pc.strftime(arr, "%Y-%m-%dT%H:%M:%S")
            elif pa.types.is_date(field.type):
                arr = arr.cast(pa.string())
            arrays.append(arr)
        pending += pa.RecordBatch.from_arrays(arrays, names=batch.schema.names).to_pylist()
        while len(pending) >= size:
            pages.append(json.dumps(pending[:size]).encode())
            del pending[:size]
    if pending or not pages:
        pages.append(json.dumps(pending).encode())
    return pages


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("port_file")
    p.add_argument("--page", type=int, default=1000)
    a = p.parse_args()
    pages = render(a.data, a.page)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            url = urlparse(self.path)
            q = parse_qs(url.query)
            number = int(q.get("page", ["1"])[0])
            body = pages[number - 1] if 1 <= number <= len(pages) else b"[]"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if number < len(pages):
                host, port = self.server.server_address[:2]
                nxt = f"http://{host}:{port}{url.path}?page={number + 1}&per_page={a.page}"
                self.send_header("Link", f'<{nxt}>; rel="next"')
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, a.port_file)  # readers never see a half-written port
    server.serve_forever()


if __name__ == "__main__":
    main()
