"""Lifecycle hooks under Dask: they fire in the driver, the per-unit hook once per unit,
and the batch hook not at all (batches stay on the workers), as docs/plugins/hooks.md says."""

from __future__ import annotations

import pathlib
from typing import Any

from hygge_core.api import run_file
from hygge_core.testing import EventRecorder, FlowHarness, tables_equal


def test_every_hook_fires_the_documented_number_of_times_under_dask(
    tmp_path: pathlib.Path, scheduler: str, kit: Any
) -> None:
    source = kit.write_home(tmp_path / "home", files=4, rows=250)
    flows = {
        "copy": {
            "home": {"type": "parquet", "path": str(tmp_path / "home")},
            "store": {"type": "parquet", "path": str(tmp_path / "lake")},
        }
    }
    recorder = EventRecorder()
    (result,) = run_file(
        str(FlowHarness(tmp_path).write(flows)),
        executor="dask",
        executor_options={"address": scheduler},
        observers=[recorder],
    )
    assert result.status == "ok", result.error
    assert recorder.counts() == {
        "hygge_flow_started": 1,
        "hygge_batch_staged": 0,
        "hygge_unit_staged": 4,
        "hygge_flow_note": 0,
        "hygge_flow_finished": 1,
        "hygge_flow_failed": 0,
        "hygge_run_finished": 1,
    }
    units = recorder.events("hygge_unit_staged")
    assert sorted(u.unit for u in units) == sorted(f"f{f:02d}.parquet#rg0-0" for f in range(4))
    assert [u.rows for u in units] == [250] * 4
    (finished,) = recorder.events("hygge_flow_finished")
    assert (finished.flow, finished.rows) == ("copy", 1000)
    assert [name for name, _ in recorder.calls][-2:] == [
        "hygge_flow_finished",
        "hygge_run_finished",
    ]
    assert tables_equal(kit.read_store(tmp_path / "lake"), source)
