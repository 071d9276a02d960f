"""The one table of first-party types, protocols and suffixes (hygge_core.known): the
"install ..." hints it gives, and that it says what the plugins really register."""

from __future__ import annotations

import pathlib

import pytest

from hygge_core import PermanentError
from hygge_core.known import CODEC_SUFFIXES, FIRST_PARTY
from hygge_core.plugins import load_registry
from hygge_core.storage import StorageResolver
from tests.conftest import run_cli


@pytest.mark.parametrize(
    ("path", "loaded", "hint"),
    [
        ("data/events.tsv", "hygge-parquet", "install it: pip install hygge-csv"),
        ("data/events.ndjson.zst", "hygge-parquet", "install it: pip install hygge-csv"),
        ("data/users.csv.gz", "hygge-parquet", "install it: pip install hygge-csv"),
        ("data/users.parq", "hygge-csv", "install it: pip install hygge-parquet"),
        ("data/*.pq", "hygge-csv", "install it: pip install hygge-parquet"),
    ],
)
def test_a_bare_path_without_its_plugin_names_the_package(
    tmp_path: pathlib.Path, path: str, loaded: str, hint: str
) -> None:
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        f"flows:\n  f:\n    home: {path}\n    store: {{type: {loaded.split('-')[1]}, path: out}}\n"
    )
    result = run_cli("validate", str(flows), env={"HYGGE_LOAD_PLUGINS": loaded}, cwd=tmp_path)
    assert result.code == 2, result.text
    assert (
        f"flows.yaml:3:11: flow 'f' → home: no installed plugin handles the path '{path}'\n"
        in result.err
    )
    assert f"    hint: {hint}\n" in result.err


def test_a_cloud_path_without_its_storage_names_the_extra(tmp_path: pathlib.Path) -> None:
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        "flows:\n  f:\n    home: {type: parquet, path: 'abfss://c/x.parquet'}\n    store: out/\n"
    )
    result = run_cli("run", str(flows), env={"HYGGE_LOAD_PLUGINS": "hygge-parquet"}, cwd=tmp_path)
    assert result.code == 2, result.text
    assert "field 'path': no storage plugin serves 'abfss://' paths\n" in result.err
    assert "    hint: install it: pip install 'hygge-cloud[azure]'\n" in result.err
    # The same hint where a path is met at run time (a storage resolved by a plugin).
    with pytest.raises(PermanentError) as info:
        StorageResolver({}).storage_for("gs://bucket/x.parquet")
    assert str(info.value) == (
        "no storage plugin serves 'gs://' paths; install it: pip install 'hygge-cloud[gcs]'"
    )


def test_the_table_says_what_the_plugins_register() -> None:
    """A plugin that adds a type, a protocol or a suffix adds it to the table too."""
    registry = load_registry()
    installed = [k for k in FIRST_PARTY if k.name in registry.plugins]
    assert {"hygge-parquet", "hygge-csv"} <= {k.name for k in installed}
    for known in installed:
        info = registry.plugins[known.name]
        assert set(known.types) <= {*info.homes, *info.stores, *info.executors}, known
        assert set(known.protocols) <= set(info.storages), known
        assert set(known.sections) <= set(registry.settings), known
        for suffix in known.suffixes:
            for codec in ("", *CODEC_SUFFIXES) if known.name == "hygge-csv" else ("",):
                path = f"data/x{suffix}{codec}"
                claimed = registry.pm.hook.hygge_type_for_path(path=path, side="home")
                assert claimed in known.types, (path, claimed, known)
    first_party = {k.name for k in FIRST_PARTY}
    registered = {
        name
        for (kind, name), dist in registry.owners.items()
        if dist in first_party and dist != "hygge-core"
    }
    listed = {n for k in installed for n in (*k.types, *k.protocols)}
    assert registered == listed
