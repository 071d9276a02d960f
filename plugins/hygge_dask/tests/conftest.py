"""Fixtures for hygge-dask: the real Dask cluster of scripts/services.py, and Parquet homes.

`python3 scripts/services.py start dask` runs a scheduler and one `dask worker --nworkers 2`
process on 127.0.0.1 from the repo's venv, so the workers import hygge-core and the plugins
exactly as the driver does. Without `HYGGE_TEST_DASK_SCHEDULER` the cluster tests skip,
unless `HYGGE_REQUIRE_SERVICES=1`, where they fail.
"""

from __future__ import annotations

import importlib
import logging
import os
import pathlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

REQUIRED = os.environ.get("HYGGE_REQUIRE_SERVICES") == "1"


def need_env(*names: str) -> list[str]:
    """The variables' values, or skip (fail when services are required)."""
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        message = (
            f"{', '.join(missing)} not set: run `python3 scripts/services.py start` and source "
            "$HYGGE_SERVICES_DIR/services.env (default /tmp/hygge-services)"
        )
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return [os.environ[name] for name in names]


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

    @staticmethod
    def need_module(name: str) -> Any:
        """Import an optional package; skip without it unless services are required."""
        if REQUIRED:
            return importlib.import_module(name)
        return pytest.importorskip(name, reason=f"{name} is not installed")


@pytest.fixture
def kit() -> type[Kit]:
    """The shared helpers."""
    return Kit


@pytest.fixture
def unit_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The `hygge.dask` log at INFO: one line per staged unit, naming its worker."""
    caplog.set_level(logging.INFO, logger="hygge.dask")
    return caplog
