"""Fixtures for hygge-dask: the real Dask cluster of scripts/services.py, and Parquet homes.

`python3 scripts/services.py start dask` runs a scheduler and one `dask worker --nworkers 2`
process on 127.0.0.1 from the repo's venv, so the workers import hygge-core and the plugins
exactly as the driver does. Without `HYGGE_TEST_DASK_SCHEDULER` the cluster tests skip,
unless `HYGGE_REQUIRE_SERVICES=1`, where they fail.
"""

from __future__ import annotations

import logging
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import need_env, need_module


@pytest.fixture(scope="session")
def scheduler() -> str:
    """The address of the test cluster's scheduler."""
    return need_env("HYGGE_TEST_DASK_SCHEDULER")[0]


@pytest.fixture(scope="session")
def client(scheduler: str) -> Iterator[Any]:
    """A client of our own, to look at the cluster (workers, pids) while hygge uses it."""
    from distributed import Client

    with Client(scheduler, timeout=10, set_as_default=False) as c:
        c.wait_for_workers(2, timeout=30)
        yield c


class Kit:
    """Helpers the tests share (a fixture, since test modules cannot import conftest)."""

    @staticmethod
    def workers(client: Any) -> set[str]:
        """Addresses of the workers connected now."""
        return set(client.scheduler_info(n_workers=-1)["workers"])

    @staticmethod
    def write_home(
        folder: pathlib.Path, files: int, rows: int, *, row_group: int | None = None
    ) -> pa.Table:
        """`files` Parquet files of `rows` rows each, ids unique across files; all rows."""
        folder.mkdir(parents=True, exist_ok=True)
        tables = []
        for f in range(files):
            ids = pa.array(range(f * rows, (f + 1) * rows), pa.int64())
            table = pa.table(
                {
                    "id": ids,
                    "amount": pc.multiply(pc.cast(ids, pa.float64()), 0.5),
                    "label": pc.binary_join_element_wise("f", pc.cast(ids, pa.string()), ""),
                }
            )
            pq.write_table(table, folder / f"f{f:02d}.parquet", row_group_size=row_group or rows)
            tables.append(table)
        return pa.concat_tables(tables)

    @staticmethod
    def read_store(path: pathlib.Path) -> pa.Table:
        """What a reader of the store sees, in id order."""
        return pq.read_table(path).sort_by("id")

    @staticmethod
    def staging_files(path: pathlib.Path) -> list[pathlib.Path]:
        """Files under the store's staging area (readers skip it; it should be empty)."""
        return [p for p in (path / "_hygge_staging").rglob("*") if p.is_file()]

    @staticmethod
    def placements(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, str]]:
        """(flow, unit id, worker address) of every staged unit, from the executor's log."""
        found = []
        for record in caplog.records:
            if record.name == "hygge.dask" and "staged on" in record.getMessage():
                flow, unit, worker = record.args[:3]  # type: ignore[index,misc]
                found.append((str(flow), str(unit), str(worker)))
        return found

    @classmethod
    def staged_on(cls, caplog: pytest.LogCaptureFixture) -> dict[str, str]:
        """unit id → worker address (for runs of a single flow)."""
        return {unit: worker for _, unit, worker in cls.placements(caplog)}

    need_env = staticmethod(need_env)
    need_module = staticmethod(need_module)


@pytest.fixture
def kit() -> type[Kit]:
    """The shared helpers."""
    return Kit


@pytest.fixture
def unit_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The `hygge.dask` log at INFO: one line per staged unit, naming its worker."""
    caplog.set_level(logging.INFO, logger="hygge.dask")
    return caplog


class OwnCluster:
    """A scheduler and workers of a test's own, as separate `dask` processes on 127.0.0.1,
    for what the shared cluster must not see (other scheduler settings, no worker yet)."""

    def __init__(self, root: pathlib.Path) -> None:
        dask = shutil.which("dask", path=str(pathlib.Path(sys.executable).parent))
        if dask is None:
            pytest.skip("the dask command is not installed in this venv")
        self.dask = dask
        self.root = root
        self.address = ""
        self.started: list[subprocess.Popen[bytes]] = []

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        argv = [self.dask, *argv, "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"]
        with (self.root / f"{name}-{len(self.started)}.log").open("wb") as log:
            self.started.append(subprocess.Popen(argv, env=env, stdout=log, stderr=log))

    def scheduler(self, allowed_failures: int | None = None) -> str:
        """Start the scheduler; returns its address."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        env = dict(os.environ)
        if allowed_failures is not None:
            env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = str(allowed_failures)
        self._spawn("scheduler", ["scheduler", "--port", str(port)], env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    self.address = f"tcp://127.0.0.1:{port}"
                    return self.address
            time.sleep(0.05)
        pytest.fail(f"the dask scheduler did not listen on 127.0.0.1:{port} within 30 s")

    def worker(self) -> None:
        """Start one nanny-managed, single-threaded worker process."""
        space = self.root / "worker-space"
        argv = ["worker", self.address, "--nthreads", "1", "--local-directory", str(space)]
        self._spawn("worker", argv, dict(os.environ))

    def stop(self) -> None:
        """Workers first (each nanny stops its child), then the scheduler; by pid."""
        for proc in reversed(self.started):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def own_cluster(tmp_path: pathlib.Path) -> Iterator[OwnCluster]:
    """Start processes with `.scheduler()` and `.worker()`; all stopped afterwards."""
    root = tmp_path / "own-dask"
    root.mkdir()
    cluster = OwnCluster(root)
    try:
        yield cluster
    finally:
        cluster.stop()
