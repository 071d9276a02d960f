"""A store that only one process may open (`single_process`, as DuckDB's file) is refused
under Dask before anything is read, and runs as usual on the local executor."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
from hygge_parquet.store import ParquetStore

from hygge_core.api import run_file
from hygge_core.testing import FlowHarness


def test_a_single_process_store_is_refused_under_dask(
    tmp_path: pathlib.Path, scheduler: str, kit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit.write_home(tmp_path / "home", files=2, rows=100)
    monkeypatch.setattr(ParquetStore, "single_process", True)
    flows = {
        "copy": {
            "home": {"type": "parquet", "path": str(tmp_path / "home")},
            "store": {"type": "parquet", "path": str(tmp_path / "lake")},
        }
    }
    path = str(FlowHarness(tmp_path).write(flows))
    (refused,) = run_file(path, executor="dask", executor_options={"address": scheduler})
    assert refused.status == "failed"
    assert refused.error == (
        f"store parquet {tmp_path}/lake (append) can only be opened by one process (its type "
        "'parquet' declares single_process), so it cannot run on executor 'dask', whose units "
        f"run in other processes (dask {scheduler}); run this flow with --executor local (or "
        "executor: {type: local} in flows.yaml)"
    )
    assert not (tmp_path / "lake").exists()
    (local,) = run_file(path)
    assert local.status == "ok", local.error
    assert local.rows == 200
