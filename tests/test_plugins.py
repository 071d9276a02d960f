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


def make_dist(site: pathlib.Path, name: str, module: str, code: str, group: str = "hygge") -> None:
    """A minimal installed distribution `name` whose entry point (in `group`) loads
    `module`."""
    (site / f"{module}.py").write_text(textwrap.dedent(code))
    info = site / f"{name.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{module} = {module}\n")


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


DUPE = """
    from hygge_core import hookimpl
    from hygge_parquet.home import ParquetHome

    @hookimpl
    def hygge_register_homes(register):
        register("parquet", ParquetHome)
    """

DUPE_MESSAGE = (
    "home type 'parquet' is registered by both hygge-dupe 1.2.3 and hygge-parquet 0.1.0; "
    "hygge will not guess which one to use: uninstall one of them, or choose with "
    "HYGGE_LOAD_PLUGINS (a comma list of the distributions to load, e.g. "
    "HYGGE_LOAD_PLUGINS=hygge-parquet plus the others your flows need)"
)


def test_duplicate_type_is_listed_as_a_conflict_naming_both(tmp_path: pathlib.Path) -> None:
    make_dist(tmp_path, "hygge-dupe", "hygge_dupe_mod", DUPE)
    listed = run_cli("plugins", "--json", env=env_with(tmp_path))
    assert listed.code == 0, listed.text
    assert listed.err.strip() == f"warning: {DUPE_MESSAGE}"
    data = json.loads(listed.out)
    assert data["conflicts"] == [
        {
            "kind": "home",
            "type": "parquet",
            "distributions": ["hygge-dupe", "hygge-parquet"],
            "error": DUPE_MESSAGE,
        }
    ]
    by_dist = {p["distribution"]: p for p in data["plugins"]}
    assert by_dist["hygge-dupe"]["homes"] == by_dist["hygge-parquet"]["homes"] == ["parquet"]
    assert by_dist["hygge-parquet"]["capabilities"]["home:parquet"] == {"error": DUPE_MESSAGE}
    assert by_dist["hygge-csv"]["homes"] == ["csv", "jsonl"]  # everything else is listed
    assert by_dist["hygge-parquet"]["stores"] == ["parquet"]
    text = run_cli("plugins", env=env_with(tmp_path))
    assert text.code == 0, text.text
    assert "parquet (conflict)" in text.out and "home:csv: incremental" in text.out


def test_duplicate_type_fails_only_the_flows_that_use_it(tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    make_dist(site, "hygge-dupe", "hygge_dupe_mod", DUPE)
    (tmp_path / "a.csv").write_text("id\n1\n2\n")
    pq.write_table(pa.table({"id": [1]}), tmp_path / "a.parquet")
    (tmp_path / "csv.yaml").write_text(
        "flows:\n  f:\n    home: a.csv\n    store: {type: csv, path: out/}\n"
    )
    (tmp_path / "pq.yaml").write_text(
        "flows:\n  p:\n    home: {type: parquet, path: a.parquet}\n"
        "    store: {type: csv, path: out2/}\n"
    )
    ok = run_cli("run", "csv.yaml", cwd=tmp_path, env=env_with(site))
    assert ok.code == 0, ok.text
    assert f"warning: {DUPE_MESSAGE}" in ok.err
    bad = run_cli("validate", "pq.yaml", cwd=tmp_path, env=env_with(site))
    assert bad.code == 2
    assert bad.err.splitlines()[1:] == [
        f"pq.yaml:3:18: flow 'p' → home → field 'type': {DUPE_MESSAGE}",
        "1 problem in pq.yaml",
    ]
    assert "Traceback" not in bad.text


BROKEN_TYPES = """
    from hygge_core import Store, StoreConfig, hookimpl

    class HalfStore(Store):
        config_model = StoreConfig

        def read_state(self):
            return None

    class NotAStore:
        pass

    @hookimpl
    def hygge_register_homes(register):
        register("typohome", "hygge_parquet.hom:ParquetHome")
        register("typoclass", "hygge_parquet.home:ParquetHom")

    @hookimpl
    def hygge_register_stores(register):
        register("half", HalfStore)
        register("plain", NotAStore)

    @hookimpl
    def hygge_register_executors(register):
        register("typoexec", "hygge_typo_mod:NoSuchExecutor")
    """

TYPO_MODULE = (
    "plugin hygge-typo 1.2.3 registers home type 'typohome' as "
    "'hygge_parquet.hom:ParquetHome', which cannot be imported (ModuleNotFoundError: No module "
    "named 'hygge_parquet.hom'); fix the \"module:Class\" string in the hygge_register_homes "
    "hook of hygge-typo, or reinstall or upgrade hygge-typo; to run without it, leave "
    "hygge-typo out of HYGGE_LOAD_PLUGINS"
)
TYPO_CLASS = (
    "plugin hygge-typo 1.2.3 registers home type 'typoclass' as "
    "'hygge_parquet.home:ParquetHom', but module hygge_parquet.home has no class 'ParquetHom' "
    "(did you mean 'hygge_parquet.home:ParquetHome'?); fix the \"module:Class\" string in the "
    "hygge_register_homes hook of hygge-typo, or reinstall or upgrade hygge-typo; to run "
    "without it, leave hygge-typo out of HYGGE_LOAD_PLUGINS"
)
PLAIN_STORE = (
    "plugin hygge-typo 1.2.3 registers store type 'plain' as 'hygge_typo_mod:NotAStore', "
    "which is not a subclass of hygge_core.Store; make it one in hygge-typo (see "
    "docs/plugins/store.md), or uninstall hygge-typo"
)
HALF_STORE = (
    "plugin hygge-typo 1.2.3 registers store type 'half' as 'hygge_typo_mod:HalfStore', "
    "which does not implement the abstract methods abort, commit, stage of hygge_core.Store; "
    "implement them in hygge-typo (see docs/plugins/store.md), or uninstall hygge-typo"
)


def test_broken_types_are_listed_with_their_error(tmp_path: pathlib.Path) -> None:
    make_dist(tmp_path, "hygge-typo", "hygge_typo_mod", BROKEN_TYPES)
    listed = run_cli("plugins", "--json", env=env_with(tmp_path))
    assert listed.code == 0, listed.text
    assert sorted(listed.err.strip().splitlines()) == sorted(
        f"warning: {m}" for m in (TYPO_MODULE, TYPO_CLASS, HALF_STORE, PLAIN_STORE)
    )
    data = json.loads(listed.out)
    assert sorted(data["unusable"], key=lambda u: u["type"]) == [
        {"distribution": "hygge-typo", "version": "1.2.3", "kind": "store", "type": "half",
         "error": HALF_STORE},
        {"distribution": "hygge-typo", "version": "1.2.3", "kind": "store", "type": "plain",
         "error": PLAIN_STORE},
        {"distribution": "hygge-typo", "version": "1.2.3", "kind": "home", "type": "typoclass",
         "error": TYPO_CLASS},
        {"distribution": "hygge-typo", "version": "1.2.3", "kind": "home", "type": "typohome",
         "error": TYPO_MODULE},
    ]  # fmt: skip
    by_dist = {p["distribution"]: p for p in data["plugins"]}
    assert by_dist["hygge-typo"]["homes"] == ["typoclass", "typohome"]
    assert by_dist["hygge-parquet"]["capabilities"]["home:parquet"]["incremental"] is True
    assert run_cli("plugins", env=env_with(tmp_path)).code == 0


def test_a_broken_type_fails_validate_and_run_with_one_paragraph(tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    make_dist(site, "hygge-typo", "hygge_typo_mod", BROKEN_TYPES)
    pq.write_table(pa.table({"id": [1]}), tmp_path / "a.parquet")
    (tmp_path / "flows.yaml").write_text(
        "flows:\n"
        "  one:\n    home: {type: typohome, path: a.parquet}\n    store: out/\n"
        "  two:\n    home: {type: typoclass, path: a.parquet}\n    store: out/\n"
        "  three:\n    home: a.parquet\n    store: {type: half}\n"
        "  four:\n    home: a.parquet\n    store: {type: plain}\n"
    )
    expected = [
        f"flows.yaml:3:18: flow 'one' → home → field 'type': {TYPO_MODULE}",
        f"flows.yaml:6:18: flow 'two' → home → field 'type': {TYPO_CLASS}",
        f"flows.yaml:10:19: flow 'three' → store → field 'type': {HALF_STORE}",
        f"flows.yaml:13:19: flow 'four' → store → field 'type': {PLAIN_STORE}",
        "4 problems in flows.yaml",
    ]
    for command in ("validate", "run"):
        result = run_cli(command, "flows.yaml", cwd=tmp_path, env=env_with(site))
        assert result.code == 2, result.text
        assert result.err.splitlines() == expected, result.err
        assert result.out == "" and not (tmp_path / "out").exists()


def test_a_broken_executor_chosen_on_the_command_line_exits_2(tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    make_dist(site, "hygge-typo", "hygge_typo_mod", BROKEN_TYPES)
    pq.write_table(pa.table({"id": [1]}), tmp_path / "a.parquet")
    (tmp_path / "flows.yaml").write_text("flows:\n  f:\n    home: a.parquet\n    store: out/\n")
    result = run_cli(
        "run", "flows.yaml", "--executor", "typoexec", cwd=tmp_path, env=env_with(site)
    )
    assert result.code == 2, result.text
    assert result.err.strip() == (
        "error: plugin hygge-typo 1.2.3 registers executor type 'typoexec' as "
        "'hygge_typo_mod:NoSuchExecutor', but module hygge_typo_mod has no class "
        "'NoSuchExecutor'; fix the \"module:Class\" string in the hygge_register_executors "
        "hook of hygge-typo, or reinstall or upgrade hygge-typo; to run without it, leave "
        "hygge-typo out of HYGGE_LOAD_PLUGINS"
    )
    assert not (tmp_path / "out").exists()


def test_an_entry_point_group_typo_is_named_by_hygge_plugins(tmp_path: pathlib.Path) -> None:
    make_dist(tmp_path, "hygge-misgrouped", "hygge_misgrouped_mod", "", group="hyge")
    result = run_cli("plugins", "--json", env=env_with(tmp_path))
    assert result.code == 0, result.text
    message = (
        "distribution hygge-misgrouped 1.2.3 declares entry point "
        "'hygge_misgrouped_mod = hygge_misgrouped_mod' in group 'hyge', which hygge does not "
        "read: hygge loads plugins only from the group 'hygge' ([project.entry-points.hygge] "
        "in pyproject.toml); rename the group and reinstall hygge-misgrouped"
    )
    assert result.err.strip() == f"warning: {message}"
    data = json.loads(result.out)
    assert data["ignored_entry_points"] == [message]
    assert "hygge-misgrouped" not in {p["distribution"] for p in data["plugins"]}


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
