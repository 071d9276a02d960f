"""What `hygge` imports to start: a small local run pays for neither fsspec (local paths
are served by `hygge_core.localfs`), nor `pyarrow.compute`'s generated wrappers, nor the
scan for pydantic's plugins (bench/README.md, "Start-up")."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from hygge_core._kernels import aggregate, call
from hygge_core.testing import hygge_imports

WATCHED = ("fsspec", "asyncio", "pyarrow.compute")
# What other plugins' types need; registered as "module:Class", so a Parquet run skips them.
LIBRARIES = ("sqlalchemy", "deltalake", "pyiceberg", "pika", "httpx", "prometheus_client",
             "opentelemetry", "dask", "s3fs", "adlfs", "gcsfs")  # fmt: skip


def _three_rows(tmp_path: pathlib.Path) -> None:
    pq.write_table(pa.table({"id": [1, 2, 3], "name": ["a", "b", None]}), tmp_path / "in.parquet")
    (tmp_path / "flows.yaml").write_text(
        "flows:\n  f:\n    home: in.parquet\n    store: {type: parquet, path: out/}\n"
    )


def test_a_local_parquet_run_imports_no_fsspec_nor_compute_wrappers(tmp_path: pathlib.Path) -> None:
    _three_rows(tmp_path)
    done = hygge_imports("run", "flows.yaml", prefixes=WATCHED + LIBRARIES, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = pq.read_table(tmp_path / "out")
    assert out.sort_by("id").to_pydict() == {"id": [1, 2, 3], "name": ["a", "b", None]}
    # The files' statistics and the encoding choice ran, through hygge_core._kernels;
    # the commit protocol's file calls went to LocalFiles, which needs no fsspec.
    assert done.modules == [], done.modules


def test_validate_opens_no_filesystem(tmp_path: pathlib.Path) -> None:
    # (`hygge plugins` is not held to this: it imports every type to show its capabilities.)
    _three_rows(tmp_path)
    checked = hygge_imports("validate", "flows.yaml", prefixes=WATCHED, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "flows.yaml: 1 flow valid" in checked.stdout
    assert checked.modules == [], checked.modules


def test_kernels_return_what_pyarrow_compute_returns() -> None:
    ints = pa.chunked_array([[3, None, 1], [7, 1]])
    floats = pa.chunked_array([[1.5, float("nan"), None]])
    texts = pa.array(["a", "bb", None, "bb"])
    assert aggregate("min_max", ints) == pc.min_max(ints)
    assert aggregate("any", call("is_nan", floats)) == pc.any(pc.is_nan(floats))
    assert call("drop_null", ints) == pc.drop_null(ints)
    assert call("value_counts", texts) == pc.value_counts(texts)
    assert call("take", texts, pa.array([3, 0])) == pc.take(texts, pa.array([3, 0]))
    counts = pc.value_counts(texts).field("counts")
    assert aggregate("sum", call("equal", counts, 1)) == pc.sum(pc.equal(counts, 1))
    assert aggregate("sum", call("binary_length", texts)) == pc.sum(pc.binary_length(texts))
    assert aggregate("sum", pa.array([], pa.int64())).as_py() is None  # min_count=1, as pc


_SETTINGS_PROBE = """
import atexit, os, sys
import pydantic.plugin._loader as loader
atexit.register(lambda: print("PLUGINS", loader._plugins, os.environ["OPENBLAS_NUM_THREADS"]))
from hygge_core.cli import main
sys.argv = ["hygge", "run", "flows.yaml"]
main()
"""


@pytest.mark.parametrize(("setting", "seen"), [(None, "PLUGINS None 1"), ("", "PLUGINS {} 4")])
def test_the_command_skips_pydantic_plugins_and_blas_threads(
    tmp_path: pathlib.Path, setting: str | None, seen: str
) -> None:
    # Looking for pydantic's plugins scans every installed distribution's entry points, and
    # OpenBLAS spins a thread per core at import: the command turns both off, unless the
    # user set them (an empty PYDANTIC_DISABLE_PLUGINS loads every plugin).
    _three_rows(tmp_path)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYDANTIC_DISABLE_PLUGINS", "OPENBLAS_NUM_THREADS")
    }
    if setting is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = setting
        env["OPENBLAS_NUM_THREADS"] = "4"
    done = subprocess.run(
        [sys.executable, "-c", _SETTINGS_PROBE],
        cwd=tmp_path,
        env={**env, "HYGGE_CLEAN_EXIT": "1"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert seen in done.stdout.splitlines()
