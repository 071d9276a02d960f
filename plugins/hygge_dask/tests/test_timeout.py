"""A flow's `timeout:` on Dask: checked as each unit's receipt comes back, so a flow whose
units run past it fails with nothing committed."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from hygge_core.api import run_file
from hygge_core.testing import FlowHarness


def test_a_flow_past_its_timeout_on_dask_commits_nothing(
    tmp_path: pathlib.Path, kit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit.write_home(tmp_path / "home", files=2, rows=100)
    lake = tmp_path / "lake"
    flows = {
        "slow": {
            "home": {"type": "parquet", "path": str(tmp_path / "home")},
            "store": {"type": "parquet", "path": str(lake)},
            "timeout": "1s",
        }
    }
    path = FlowHarness(tmp_path).write(flows)
    # The workers (processes of hygge's own LocalCluster, started with this environment)
    # pause 3 s after staging each unit's first batch.
    monkeypatch.setenv("HYGGE_FAULTS", "batch.staged@1=sleep:3")
    (result,) = run_file(
        str(path), executor="dask", executor_options={"n_workers": 1, "threads_per_worker": 1}
    )
    assert result.status == "failed"
    assert result.error == (
        "timed out: ran past its timeout: 1s; nothing was committed and its state is "
        "unchanged\n    hint: raise timeout: on the flow, or find what made it slow (hygge run -v)"
    )
    assert not list(lake.glob("*.parquet"))
    assert not (lake / "_hygge" / "state").exists() or not list(
        (lake / "_hygge" / "state").iterdir()
    )
