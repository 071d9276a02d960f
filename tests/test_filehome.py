"""FileHome, the base of file homes (hygge_core.files): one listing, one hidden-file rule and
one glob base for the Parquet and CSV homes alike."""

from __future__ import annotations

import errno
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hygge_csv.home import CsvHome
from hygge_parquet.home import ParquetHome

from hygge_core import PermanentError, describe_error, first_line
from hygge_core.context import FlowContext
from hygge_core.files import FileHome, glob_base
from hygge_core.plugins import load_registry
from hygge_core.storage import StorageResolver


def _home(cls: type[FileHome], path: pathlib.Path | str) -> FileHome:
    ctx = FlowContext(flow="f", run_id="r", storage=StorageResolver(load_registry().storages))
    config = cls.config_model.model_validate({"type": cls.format, "path": str(path)})
    return cls(config, ctx)  # type: ignore[arg-type]


def _lay_out(root: pathlib.Path, suffix: str) -> None:
    table = pa.table({"id": [1, 2]})
    for rel in ("a/one", "b/two", "a/_hygge_staging/run/three", "a/.tmp/four", "_hygge/five"):
        path = root / f"{rel}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".parquet":
            pq.write_table(table, path)
        else:
            path.write_text("id\n1\n2\n")


@pytest.mark.parametrize("cls", [ParquetHome, CsvHome], ids=["parquet", "csv"])
def test_both_homes_list_the_same_files_the_same_way(
    tmp_path: pathlib.Path, cls: type[FileHome]
) -> None:
    suffix = ".parquet" if cls is ParquetHome else ".csv"
    _lay_out(tmp_path / "data", suffix)
    folder = _home(cls, tmp_path / "data")
    assert [folder.unit_name(p) for p in folder.files] == [f"a/one{suffix}", f"b/two{suffix}"]
    # A glob's files are named from the folder it starts at, for `*`, `?` and `[` alike.
    for pattern in ("data/*/*", "data/?/*", "data/[ab]/*"):
        globbed = _home(cls, f"{tmp_path}/{pattern}{suffix}")
        assert [globbed.unit_name(p) for p in globbed.files] == [f"a/one{suffix}", f"b/two{suffix}"]
        assert globbed.check() is None
    units = [u.id for u in _home(cls, f"{tmp_path}/data/[ab]/*{suffix}").plan(None)]
    assert units == (
        [f"a/one{suffix}#rg0-0", f"b/two{suffix}#rg0-0"]
        if cls is ParquetHome
        else [f"a/one{suffix}", f"b/two{suffix}"]
    )


@pytest.mark.parametrize("cls", [ParquetHome, CsvHome], ids=["parquet", "csv"])
def test_a_missing_or_empty_path_says_so(tmp_path: pathlib.Path, cls: type[FileHome]) -> None:
    missing = _home(cls, tmp_path / "nope")
    assert missing.check() == f"no such file or directory: {tmp_path}/nope"
    with pytest.raises(PermanentError, match=r"^no such file or directory: .*/nope$"):
        missing.files  # noqa: B018
    (tmp_path / "empty" / "_hygge").mkdir(parents=True)
    (tmp_path / "empty" / "_hygge" / "state.json").write_text("{}")
    with pytest.raises(PermanentError) as info:
        _home(cls, tmp_path / "empty").files  # noqa: B018
    assert str(info.value) == f"no {cls.format} files under {tmp_path}/empty"


def test_glob_base() -> None:
    assert glob_base("data/2024-*/x.csv") == "data"
    assert glob_base("data/x?.csv") == "data"
    assert glob_base("data/[ab]/x.csv") == "data"
    assert glob_base("data/x.csv") == "data/x.csv"


def test_one_line_of_an_error() -> None:
    assert first_line("\n  boom  \n  more") == "boom"
    assert first_line("") == ""
    assert first_line("x" * 10, limit=5) == "xxxx…"
    assert first_line(KeyError()) == "KeyError"  # an error without a message: its type
    assert first_line(ValueError("  bad  \n more")) == "bad"
    assert describe_error(PermanentError("table t: gone\nmore")) == "table t: gone\nmore"
    assert describe_error(ValueError("bad\nvalue")) == "ValueError: bad"
    assert describe_error(KeyError()) == "KeyError"
    full = OSError(errno.ENOSPC, "No space left", "/lake/x")
    assert describe_error(full) == (
        "no space left on the device (/lake/x): free space or fix permissions, then re-run"
    )
