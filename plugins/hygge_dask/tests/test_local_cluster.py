"""No scheduler address: hygge starts its own LocalCluster, on loopback only."""

from __future__ import annotations

import pathlib
from typing import Any

import psutil
from hygge_dask import DaskExecutor

from hygge_core.api import run_file
from hygge_core.testing import FlowHarness, tables_equal


def test_without_address_a_local_cluster_runs_the_flow(tmp_path: pathlib.Path, kit: Any) -> None:
    source = kit.write_home(tmp_path / "home", files=4, rows=500)
    flows = {
        "copy": {
            "home": {"type": "parquet", "path": str(tmp_path / "home")},
            "store": {"type": "parquet", "path": str(tmp_path / "lake")},
        }
    }
    path = FlowHarness(tmp_path).write(flows)
    (result,) = run_file(
        str(path), executor="dask", executor_options={"n_workers": 2, "threads_per_worker": 1}
    )
    assert result.status == "ok", result.error
    assert result.units == 4
    assert tables_equal(kit.read_store(tmp_path / "lake"), source)


def test_local_cluster_listens_on_loopback_only() -> None:
    executor = DaskExecutor({"n_workers": 2, "threads_per_worker": 1})
    try:
        client = executor.client
        workers = client.scheduler_info(n_workers=-1)["workers"]
        assert len(workers) == 2
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert all(w.startswith("tcp://127.0.0.1:") for w in workers)
        me = psutil.Process()
        listening = [
            c.laddr.ip
            for p in [me, *me.children(recursive=True)]
            for c in p.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
        assert listening, "the cluster should listen somewhere"
        assert set(listening) == {"127.0.0.1"}
    finally:
        executor.close()
    assert executor._client is None
