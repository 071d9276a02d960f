"""The `http` home on the Dask executor: a fanned-out flow's child streams are work units that
the cluster's worker processes fetch (a bearer token from the environment travels with the
pickled flow, resolved on the driver); the store holds every record exactly once, and an
incremental rerun under `merge` fetches only what changed.

Needs the test cluster of scripts/services.py (`HYGGE_TEST_DASK_SCHEDULER`); its workers run
from the repository's venv, so they import hygge-http as the driver does.
"""

from __future__ import annotations

import logging
import pathlib
import sqlite3
from contextlib import closing
from typing import Any

import pytest
from fakeapi import FakeApi

from hygge_core.testing import FlowHarness, need_env, need_module

pytestmark = pytest.mark.services

TOKEN = "dask-T0KEN-never-printed"
REPOS = 6


def flows(api: FakeApi, tmp_path: pathlib.Path) -> dict[str, Any]:
    home = {
        "type": "http",
        "url": f"{api.url}/link/issues-{{name}}",
        "paginate": "link",
        "auth": {"type": "bearer", "token": "${HTTP_DASK_TOKEN}"},
        "parent": {"url": f"{api.url}/offset/repos", "paginate": {"type": "offset", "size": 2}},
        "parent_fields": ["name"],
        "params": {"since": "{cursor}"},
        "incremental": {"cursor": "updated_at"},
    }
    store = {
        "type": "sql",
        "url": f"sqlite:///{tmp_path / 'store.db'}",
        "table": "issues",
        "mode": "merge",
        "keys": ["parent_name", "id"],
    }
    return {"issues": {"home": home, "store": store, "parallelism": 3}}


def landed(tmp_path: pathlib.Path) -> list[tuple[str, int, str]]:
    with closing(sqlite3.connect(tmp_path / "store.db")) as db:
        return db.execute("SELECT parent_name, id, name FROM issues ORDER BY 1, 2").fetchall()


def served(api: FakeApi) -> list[tuple[str, int, str]]:
    return sorted(
        (f"repo{r}", row["id"], row["name"])
        for r in range(REPOS)
        for row in api.datasets[f"issues-repo{r}"]
    )


def test_child_streams_run_on_the_workers_and_land_exactly_once(
    api: FakeApi,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    need_module("distributed")
    (scheduler,) = need_env("HYGGE_TEST_DASK_SCHEDULER")
    monkeypatch.setenv("HTTP_DASK_TOKEN", TOKEN)
    caplog.set_level(logging.INFO, logger="hygge.dask")
    api.auth = {"bearer": TOKEN}
    api.datasets["repos"] = [{"id": r, "name": f"repo{r}"} for r in range(REPOS)]
    for r in range(REPOS):
        api.generate(f"issues-repo{r}", 30 * r + 7)
    harness = FlowHarness(tmp_path)
    executor = {"type": "dask", "address": scheduler}
    spec = flows(api, tmp_path)

    (first,) = harness.run_ok(spec, executor=executor)
    assert first.units == REPOS
    assert first.rows == sum(30 * r + 7 for r in range(REPOS))
    assert landed(tmp_path) == served(api)
    staged = [r for r in caplog.records if r.name == "hygge.dask" and "staged on" in r.msg]
    assert len(staged) == REPOS  # every child stream was fetched by a worker

    # Between runs the API gains records in two repos and updates one record in another.
    api.add("issues-repo1", 4)
    api.update("issues-repo2", [3], version=1)
    requests_before = len(api.requests)
    (second,) = harness.run_ok(spec, executor=executor)
    assert ("repo2", 3, "item-3-v1") in served(api)
    assert landed(tmp_path) == served(api)
    # Only what changed since the first run's cursor (and the boundary record `since` repeats
    # per stream), not every page.
    assert second.rows < 5 + 2 * REPOS
    assert len(api.requests) - requests_before < requests_before
    out, err = capfd.readouterr()
    assert TOKEN not in out + err + caplog.text
