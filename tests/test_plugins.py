"""Plugin discovery: entry points only, the allow-list, broken and duplicate plugins.

Throwaway distributions are made as real `.dist-info` folders on PYTHONPATH, so
`importlib.metadata` discovers them exactly as it does pip-installed ones.
"""

from __future__ import annotations

import ast
import json
import os
import pathlib
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq

from hygge_core.testing import hygge_imports
from tests.conftest import ROOT, run_cli


def make_dist(site: pathlib.Path, name: str, module: str, code: str) -> None:
    """A minimal installed distribution `name` whose entry point loads `module`."""
    (site / f"{module}.py").write_text(textwrap.dedent(code))
    info = site / f"{name.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[hygge]\n{module} = {module}\n")


def env_with(site: pathlib.Path) -> dict[str, str]:
    return {"PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def test_plugins_json_lists_parquet() -> None:
    result = run_cli("plugins", "--json")
    assert result.code == 0, result.text
    data = json.loads(result.out)
    parquet = next(p for p in data["plugins"] if p["distribution"] == "hygge-parquet")
    assert parquet["homes"] == ["parquet"] and parquet["stores"] == ["parquet"]
    assert "hygge_register_homes" in parquet["hooks"]
    core = next(p for p in data["plugins"] if p["distribution"] == "hygge-core")
    assert core["executors"] == ["local"]


def test_without_the_parquet_plugin_a_flow_names_the_package(tmp_path: pathlib.Path) -> None:
    pq.write_table(pa.table({"id": [1]}), tmp_path / "a.parquet")
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        "flows:\n  f:\n    home: {type: parquet, path: a.parquet}\n"
        "    store: {type: parquet, path: out/}\n"
    )
    result = run_cli("run", str(flows), env={"HYGGE_LOAD_PLUGINS": ""})
    assert result.code == 2
    assert "unknown home type 'parquet'" in result.err
    assert "pip install hygge-parquet" in result.err


def test_allow_list_loads_only_named_distributions() -> None:
    result = run_cli("plugins", "--json", env={"HYGGE_LOAD_PLUGINS": "hygge-parquet"})
    names = {p["distribution"] for p in json.loads(result.out)["plugins"]}
    assert "hygge-parquet" in names and names <= {"hygge-core", "hygge-parquet"}


def test_broken_plugin_is_reported_with_dist_version_and_cause(tmp_path: pathlib.Path) -> None:
    make_dist(tmp_path, "hygge-broken", "hygge_broken_mod", "import no_such_module_xyz\n")
    result = run_cli("plugins", "--json", env=env_with(tmp_path))
    assert result.code == 0, result.text
    broken = json.loads(result.out)["broken"]
    assert broken == [
        {
            "distribution": "hygge-broken",
            "version": "1.2.3",
            "error": "ModuleNotFoundError: No module named 'no_such_module_xyz'",
        }
    ]
    assert "plugin hygge-broken 1.2.3 failed to load" in result.err


def test_duplicate_type_names_both_distributions(tmp_path: pathlib.Path) -> None:
    make_dist(
        tmp_path,
        "hygge-dupe",
        "hygge_dupe_mod",
        """
        from hygge_core import hookimpl
        from hygge_parquet.home import ParquetHome

        @hookimpl
        def hygge_register_homes(register):
            register("parquet", ParquetHome)
        """,
    )
    result = run_cli("plugins", env=env_with(tmp_path))
    assert result.code == 2
    assert "home type 'parquet' is registered by both" in result.err
    assert "hygge-dupe" in result.err and "hygge-parquet" in result.err


def test_core_never_imports_a_plugin_package() -> None:
    plugins = {p.name for p in (ROOT / "plugins").iterdir() if p.name.startswith("hygge_")}
    offenders = []
    for path in (ROOT / "src" / "hygge_core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path}: {n}" for n in names if n.split(".")[0] in plugins]
    assert plugins and not offenders, offenders


def test_a_parquet_run_imports_no_other_plugin_module(tmp_path: pathlib.Path) -> None:
    """Plugins register by "module:Class": a run pays only for the types it uses."""
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "a.parquet")
    (tmp_path / "flows.yaml").write_text(
        "flows:\n  f:\n    home: a.parquet\n    store: {type: parquet, path: out/}\n"
    )
    heavy = ("hygge_csv.", "hygge_cloud.", "hygge_sql.", "hygge_dask.", "sqlalchemy",
             "dask", "distributed", "s3fs", "adlfs", "gcsfs", "pyarrow.csv")  # fmt: skip
    done = hygge_imports("run", "flows.yaml", prefixes=heavy, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.modules == [
        "hygge_cloud.plugin",
        "hygge_csv.plugin",
        "hygge_dask.plugin",
        "hygge_sql.plugin",
    ], done.stdout


def test_a_storage_registered_by_path_must_name_its_protocols(tmp_path: pathlib.Path) -> None:
    make_dist(
        tmp_path,
        "hygge-lazy-store",
        "hygge_lazy_store_mod",
        """
        from hygge_core import hookimpl

        @hookimpl
        def hygge_register_storage(register):
            register("hygge_lazy_store_mod:Nowhere")
        """,
    )
    result = run_cli("plugins", env=env_with(tmp_path))
    assert result.code == 2
    assert (
        "hygge-lazy-store: a storage registered by path ('hygge_lazy_store_mod:Nowhere') "
        "needs protocols=(...)" in result.err
    )
