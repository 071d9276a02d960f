"""Lifecycle hooks: each fires the number of times docs/plugins/hooks.md says, in the
driver, and an observer that raises silences neither the others nor the flow.

The Dask counterpart (the same counts, but no batch hook) is
plugins/hygge_dask/tests/test_hooks.py.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core import hookimpl
from hygge_core.api import run_file
from hygge_core.testing import EventRecorder, FlowHarness, tables_equal
from tests.conftest import run_cli
from tests.test_plugins import env_with, make_dist


@pytest.fixture
def home(tmp_path: pathlib.Path) -> pa.Table:
    """Three files of 100 rows in row groups of 50: three work units."""
    folder = tmp_path / "home"
    folder.mkdir()
    tables = []
    for f in range(3):
        table = pa.table({"id": pa.array(range(f * 100, (f + 1) * 100), pa.int64())})
        pq.write_table(table, folder / f"f{f}.parquet", row_group_size=50)
        tables.append(table)
    return pa.concat_tables(tables)


def copy_flow(tmp_path: pathlib.Path, **flows: str) -> str:
    """flows.yaml with one Parquet → Parquet flow per keyword: name=home path."""
    spec = {
        name: {
            "home": {"type": "parquet", "path": str(tmp_path / source)},
            "store": {"type": "parquet", "path": str(tmp_path / f"lake-{name}")},
        }
        for name, source in flows.items()
    }
    return str(FlowHarness(tmp_path).write(spec))


def test_every_hook_fires_the_documented_number_of_times_locally(
    tmp_path: pathlib.Path, home: pa.Table
) -> None:
    recorder = EventRecorder()
    (result,) = run_file(copy_flow(tmp_path, t="home"), observers=[recorder])
    assert result.status == "ok", result.error
    assert recorder.counts() == {
        "hygge_flow_started": 1,
        "hygge_batch_staged": 3,  # the Parquet home reads a unit as one batch
        "hygge_unit_staged": 3,
        "hygge_flow_note": 0,
        "hygge_flow_finished": 1,
        "hygge_flow_failed": 0,
        "hygge_run_finished": 1,
    }
    hooks = [name for name, _ in recorder.calls]
    assert hooks[0] == "hygge_flow_started"
    assert hooks[-2:] == ["hygge_flow_finished", "hygge_run_finished"]
    (started,) = recorder.events("hygge_flow_started")
    assert (started.flow, started.units, started.rows, started.estimated_rows) == ("t", 3, 0, 300)
    units = recorder.events("hygge_unit_staged")
    assert sorted(u.rows for u in units) == [100, 100, 100]
    for unit in units:  # a unit's receipt counts exactly the rows of its batches
        batches = [b for b in recorder.events("hygge_batch_staged") if b.unit == unit.unit]
        assert sum(b.rows for b in batches) == unit.rows
    (finished,) = recorder.events("hygge_flow_finished")
    assert (finished.rows, finished.run_id) == (300, result.run_id)
    (run,) = recorder.events("hygge_run_finished")
    assert run.ok and [r.name for r in run.results] == ["t"] and not run.dry_run
    assert tables_equal(pq.read_table(tmp_path / "lake-t"), home)


def test_a_failed_flow_fires_failed_and_a_skipped_one_a_note(
    tmp_path: pathlib.Path, home: pa.Table
) -> None:
    recorder = EventRecorder()
    path = copy_flow(tmp_path, bad="missing.parquet", later="home")
    results = run_file(path, observers=[recorder], fail_fast=True, concurrency=1)
    assert [r.status for r in results] == ["failed", "skipped"]
    assert recorder.counts() == {
        "hygge_flow_started": 0,  # the home failed before its plan was known
        "hygge_batch_staged": 0,
        "hygge_unit_staged": 0,
        "hygge_flow_note": 1,
        "hygge_flow_finished": 0,
        "hygge_flow_failed": 1,
        "hygge_run_finished": 1,
    }
    (failed,) = recorder.events("hygge_flow_failed")
    assert failed.flow == "bad" and failed.error == results[0].error
    (note,) = recorder.events("hygge_flow_note")
    assert (note.flow, note.message) == ("later", "skipped: an earlier flow failed (--fail-fast)")
    (run,) = recorder.events("hygge_run_finished")
    assert not run.ok


class Raising:
    """An observer whose every hook raises."""

    @hookimpl
    def hygge_flow_started(self, event: Any) -> None:
        raise RuntimeError("observer down")

    @hookimpl
    def hygge_unit_staged(self, event: Any) -> None:
        raise RuntimeError("observer down")

    @hookimpl
    def hygge_flow_finished(self, event: Any) -> None:
        raise RuntimeError("observer down")


def test_an_observer_that_raises_silences_neither_others_nor_the_flow(
    tmp_path: pathlib.Path, home: pa.Table, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = EventRecorder()
    # Registered last, so pluggy's order calls the raising observer first.
    (result,) = run_file(copy_flow(tmp_path, t="home"), observers=[recorder, Raising()])
    assert result.status == "ok", result.error
    counts = recorder.counts()
    assert (counts["hygge_flow_started"], counts["hygge_unit_staged"]) == (1, 3)
    assert counts["hygge_flow_finished"] == 1
    warnings = [r.getMessage() for r in caplog.records if "observer down" in r.getMessage()]
    assert len(warnings) == 5  # started, three units, finished
    assert warnings[0].startswith("the hygge_flow_started hook of ")
    assert warnings[0].endswith(" failed: observer down")


def test_the_cli_reporters_are_observers_like_any_plugin(
    tmp_path: pathlib.Path, home: pa.Table
) -> None:
    """An installed plugin whose hooks raise: the run, its lines and its summary stand."""
    (tmp_path / "site").mkdir()
    make_dist(
        tmp_path / "site",
        "hygge-zz-raising",
        "hygge_zz_raising",
        """
        from hygge_core import hookimpl

        @hookimpl
        def hygge_flow_finished(event):
            raise RuntimeError("observer down")

        @hookimpl
        def hygge_run_finished(event):
            raise RuntimeError("observer down")
        """,
    )
    path = copy_flow(tmp_path, t="home")
    text = run_cli("run", path, env=env_with(tmp_path / "site"))
    assert text.code == 0, text.text
    assert "[t] started: 3 work unit(s)" in text.err
    assert "[t] committed 300 rows in " in text.err
    assert "hygge run summary" in text.out
    assert "the hygge_flow_finished hook of hygge-zz-raising:hygge_zz_raising failed" in text.err
    as_json = run_cli("run", path, "--log-format", "json", env=env_with(tmp_path / "site"))
    assert as_json.code == 0, as_json.text
    events = [json.loads(ln) for ln in as_json.err.splitlines() if ln.startswith("{")]
    assert [e["event"] for e in events] == ["flow_started", "flow_finished"]
    assert json.loads(as_json.out)["flows"][0]["rows"] == 300
