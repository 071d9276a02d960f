"""The executor's registration and options: no cluster needed."""

from __future__ import annotations

import json
import pathlib
import socket
import subprocess
import sys

import pytest
import yaml
from hygge_dask import DaskExecutor

from hygge_core.api import run_file
from hygge_core.errors import PermanentError
from hygge_core.executor import UnitsRequest
from hygge_core.plugins import load_registry


def hygge(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(pathlib.Path(sys.executable).parent / "hygge"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_listed_by_hygge_plugins(tmp_path: pathlib.Path) -> None:
    listing = json.loads(hygge("plugins", "--json", cwd=tmp_path).stdout)
    (dask,) = [p for p in listing["plugins"] if p["distribution"] == "hygge-dask"]
    assert dask["executors"] == ["dask"]
    assert dask["hooks"] == ["hygge_register_executors"]
    assert load_registry().executors["dask"] is DaskExecutor


def test_loading_the_plugin_does_not_import_dask() -> None:
    code = "import sys, hygge_dask.plugin; print('distributed' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_option_names_a_close_match() -> None:
    with pytest.raises(PermanentError) as info:
        DaskExecutor({"adress": "tcp://127.0.0.1:8786"})
    assert str(info.value) == "executor dask: unknown option 'adress'; did you mean 'address'?"


def test_bad_option_value_is_one_line() -> None:
    with pytest.raises(PermanentError) as info:
        DaskExecutor({"n_workers": 0})
    assert str(info.value) == (
        "executor dask: option 'n_workers': Input should be greater than or equal to 1"
    )


def test_describe_names_the_scheduler() -> None:
    assert DaskExecutor({"address": "tcp://10.1.2.3:8786"}).describe() == "dask tcp://10.1.2.3:8786"
    assert DaskExecutor().describe() == "dask LocalCluster on 127.0.0.1"


def _flows(tmp_path: pathlib.Path, executor: dict[str, object]) -> pathlib.Path:
    home = tmp_path / "home"
    home.mkdir()
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [1, 2, 3]}), home / "a.parquet")
    path = tmp_path / "flows.yaml"
    doc = {
        "executor": executor,
        "flows": {"copy": {"home": str(home), "store": str(tmp_path / "lake") + "/"}},
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_unreachable_scheduler_fails_the_flow_in_one_line(tmp_path: pathlib.Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = _flows(tmp_path, {"type": "dask", "address": f"tcp://127.0.0.1:{port}", "timeout": 1})
    (result,) = run_file(str(path))
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith(f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}: ")
    assert "\n" not in result.error
    assert not (tmp_path / "lake").exists() or not list((tmp_path / "lake").glob("*.parquet"))


def test_cli_reports_a_bad_option_without_traceback(tmp_path: pathlib.Path) -> None:
    path = _flows(tmp_path, {"type": "dask", "scheduler": "x"})
    done = hygge("run", str(path), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: executor dask: unknown option 'scheduler'; options: " + (
        "address, n_workers, threads_per_worker, memory_limit, timeout"
    )


def test_no_cluster_until_units_run(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--dry-run` (and any run that plans nothing) must not start or reach a cluster."""
    calls = []
    monkeypatch.setattr(DaskExecutor, "_connect", lambda self: calls.append(self))
    executor = DaskExecutor({"address": "tcp://127.0.0.1:9"})
    assert executor.run_units(UnitsRequest(None, None, [], parallelism=2, budget=1)) == []  # type: ignore[arg-type]
    executor.close()
    path = _flows(tmp_path, {"type": "dask"})
    done = hygge("run", str(path), "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "copy: parquet → parquet (mode append, read full), 1 work unit(s)" in done.stdout
    assert calls == []
