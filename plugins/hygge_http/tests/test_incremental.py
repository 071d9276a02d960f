"""Incremental reads: the committed cursor goes out as `since`, only new pages come back,
and a strict `>` (after the lookback) keeps the boundary record from landing twice."""

from __future__ import annotations

import pathlib
import sqlite3
from contextlib import closing
from typing import Any

from fakeapi import FakeApi

from hygge_core.testing import FlowHarness

COLUMNS = {
    "id": "int64",
    "name": "string",
    "price": "float64",
    "active": "bool",
    "tags": "string",
    "updated_at": "timestamp_tz",
}


def flows(api: FakeApi, tmp_path: pathlib.Path, **incremental: Any) -> dict[str, Any]:
    home = {
        "type": "http",
        "url": f"{api.url}/page/items",
        "paginate": {"type": "page", "size": 100, "total": "total"},
        "records": "items",
        "params": {"since": "{cursor}"},
        "columns": COLUMNS,
        "incremental": {"cursor": "updated_at", **incremental},
    }
    store = {
        "type": "sql",
        "url": f"sqlite:///{tmp_path / 'store.db'}",
        "table": "items",
        "mode": "merge",
        "keys": ["id"],
    }
    return {"f": {"home": home, "store": store}}


def landed(tmp_path: pathlib.Path) -> list[tuple[Any, ...]]:
    # Closed at once: an open reader may stand in the way of the next run's commit.
    with closing(sqlite3.connect(tmp_path / "store.db")) as db:
        return db.execute("SELECT id, name, price FROM items ORDER BY id").fetchall()


def served(api: FakeApi) -> list[tuple[Any, ...]]:
    return [(r["id"], r["name"], r["price"]) for r in api.datasets["items"]]


def pages(api: FakeApi) -> list[str]:
    """The requests since the last call, then forgets them."""
    done, api.requests[:] = list(api.requests), []
    return done


def test_three_runs_fetch_only_new_pages_and_converge(api: FakeApi, tmp_path: pathlib.Path) -> None:
    api.generate("items", 1_000)
    harness = FlowHarness(tmp_path)
    flow = flows(api, tmp_path)

    first = harness.run_ok(flow)[0]
    assert first.rows == 1_000
    assert len(pages(api)) == 10 and landed(tmp_path) == served(api)

    api.add("items", 150)
    api.update("items", [5, 6], version=1)
    second = harness.run_ok(flow)[0]
    asked = pages(api)
    # since = the last committed cursor: record 999's, which the API returns again
    # (inclusive) and the home drops (strict >).
    assert asked == [
        "/page/items?since=2026-01-01T00%3A16%3A39%2B00%3A00&page=1&per_page=100",
        "/page/items?since=2026-01-01T00%3A16%3A39%2B00%3A00&page=2&per_page=100",
    ]
    assert second.rows == 152
    assert landed(tmp_path) == served(api)

    api.update("items", [7, 1_100], version=2)
    api.add("items", 40)
    third = harness.run_ok(flow)[0]
    assert len(pages(api)) == 1 and third.rows == 42
    assert landed(tmp_path) == served(api)

    fourth = harness.run_ok(flow)[0]
    assert len(pages(api)) == 1 and fourth.rows == 0


def test_lookback_reads_again_and_merge_keeps_one_copy(
    api: FakeApi, tmp_path: pathlib.Path
) -> None:
    api.generate("items", 500)
    harness = FlowHarness(tmp_path)
    flow = flows(api, tmp_path, lookback="100 seconds")
    harness.run_ok(flow)
    api.add("items", 20)
    again = harness.run_ok(flow)[0]
    assert again.rows == 100 + 20  # (cursor - 100 s, now]: the records of the last 100 s
    assert landed(tmp_path) == served(api)


def test_a_post_body_carries_the_cursor(api: FakeApi, tmp_path: pathlib.Path) -> None:
    api.generate("items", 300)
    harness = FlowHarness(tmp_path)
    flow = flows(api, tmp_path)
    home = flow["f"]["home"]
    home.update(method="POST", params={}, body={"changed": {"since": "{cursor}"}})
    assert harness.run_ok(flow)[0].rows == 300
    first = pages(api)
    assert all(r.endswith(' {"changed":{}}') for r in first), first
    api.add("items", 5)
    assert harness.run_ok(flow)[0].rows == 5
    sent = pages(api)
    assert sent == [
        'POST /page/items?page=1&per_page=100 {"changed":{"since":"2026-01-01T00:04:59+00:00"}}'
    ]
    assert landed(tmp_path) == served(api)
