"""Flow names never reach outside a store (issue 21, point 5).

A flow's name becomes file names in every file store (state, lock, staging, commit
records). Names outside the documented character set are refused with exit 2 at
file:line, and the commit protocol encodes names again wherever they become paths.
"""

from __future__ import annotations

import pathlib

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core.filecommit import FileCommitter
from hygge_core.flownames import flow_name_problem, path_part
from tests.conftest import run_cli

RULE = (
    "a flow name is 1 to 128 characters: letters, digits, '_', '-' and '.', "
    "starting with a letter, a digit or '_'"
)


@pytest.mark.parametrize("name", ["/abs", "..", "../../victim", ".hidden", "a b", "a/b"])
def test_a_flow_name_outside_the_character_set_is_refused(
    tmp_path: pathlib.Path, name: str
) -> None:
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "in.parquet")
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        f"flows:\n  ok_flow:\n    home: {tmp_path}/in.parquet\n    store: {tmp_path}/lake/\n"
        f'  "{name}":\n    home: {tmp_path}/in.parquet\n    store: {tmp_path}/lake/\n'
    )
    for args in (["run", str(flows)], ["validate", str(flows)]):
        result = run_cli(*args)
        assert result.code == 2, result.text
        assert f"{flows}:5:3: invalid flow name {name!r}: {RULE}" in result.err, result.err
        assert "hint: rename the flow" in result.err
    assert not (tmp_path / "lake").exists()  # nothing ran


def test_state_reset_cannot_delete_outside_the_store(tmp_path: pathlib.Path) -> None:
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "in.parquet")
    store = tmp_path / "a" / "b" / "lake"
    victim = tmp_path / "victim.json"
    victim.write_text("keep me")
    flows = tmp_path / "flows.yaml"
    name = "../../../../victim"
    flows.write_text(f'flows:\n  "{name}":\n    home: {tmp_path}/in.parquet\n    store: {store}/\n')
    result = run_cli("state", "reset", str(flows), "--flow", name)
    assert result.code == 2, result.text
    assert "invalid flow name '../../../../victim'" in result.err
    assert victim.read_text() == "keep me"


def test_names_in_the_character_set_are_accepted(tmp_path: pathlib.Path) -> None:
    for name in ("users", "daily.orders-v2", "_tmp", "2024_sales", "x" * 128):
        assert flow_name_problem(name) is None, name
    assert flow_name_problem("x" * 129) is not None
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "in.parquet")
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        f"flows:\n  daily.orders-v2:\n    home: {tmp_path}/in.parquet\n"
        f"    store: {tmp_path}/lake/\n"
    )
    result = run_cli("run", str(flows))
    assert result.code == 0, result.text
    assert (tmp_path / "lake" / "_hygge" / "state" / "daily.orders-v2.json").is_file()


@pytest.mark.parametrize("name", ["/abs", "..", ".", "../../victim", "a/../../b"])
def test_the_commit_protocol_keeps_any_name_inside_its_store(
    tmp_path: pathlib.Path, name: str
) -> None:
    # Defense in depth: a caller that bypasses config (the Python API, a plugin's own
    # context) still cannot make a path outside the store's folder.
    root = str(tmp_path / "lake")
    committer = FileCommitter(fsspec.filesystem("file"), root, name, atomic_rename=True)
    meta = f"{root}/_hygge/"
    for path in (
        committer.state_path,
        committer.records_dir + "/",
        committer.staging_dir("run1"),
    ):
        assert path.startswith(root + "/"), path
        assert "/../" not in path and not path.endswith("/.."), path
        assert pathlib.Path(path).resolve().is_relative_to(pathlib.Path(root).resolve()), path
    assert committer.state_path.startswith(meta + "state/")
    assert "/" not in path_part(name)
    assert path_part(name) not in (".", "..")
