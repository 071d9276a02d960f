"""`LocalFiles` answers every call it serves itself exactly as fsspec's local filesystem
does, on one tree holding the cases that differ in practice: nested and hidden folders,
empty folders, dotfiles, a link to a folder, a broken link."""

from __future__ import annotations

import os
import pathlib
import pickle
import subprocess
import sys

import pytest
from fsspec.implementations.local import LocalFileSystem

from hygge_core.localfs import LocalFiles


@pytest.fixture
def tree(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "root"
    for rel, data in {
        "a.parquet": b"a",
        "b.parquet": b"bb",
        ".hidden": b"h",
        "_state.json.1.tmp": b"{}",
        "_state.json.2.tmp": b"{}",
        "sub/c.csv": b"ccc",
        "sub/deeper/d.csv": b"dddd",
        ".hygge_staging/run1/e.parquet": b"e",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "empty").mkdir()
    os.symlink(root / "sub", root / "link_to_sub")
    os.symlink(root / "missing", root / "broken")
    return root


def _both() -> tuple[LocalFiles, LocalFileSystem]:
    return LocalFiles(), LocalFileSystem(auto_mkdir=True)


def test_looking_matches_fsspec(tree: pathlib.Path) -> None:
    ours, theirs = _both()
    paths = [tree, tree / "a.parquet", tree / "sub", tree / "link_to_sub", tree / "nope"]
    for p in [*paths, tree / "broken", f"file://{tree}/sub", f"{tree}/sub/"]:
        assert ours.exists(str(p)) == theirs.exists(str(p)), p
        assert ours.isdir(str(p)) == theirs.isdir(str(p)), p
        assert ours.isfile(str(p)) == theirs.isfile(str(p)), p
    for p in [*paths[:4], tree / ".hidden", f"file://{tree}/sub/"]:
        assert ours.info(str(p)) == theirs.info(str(p)), p
        assert ours.modified(str(p)) == theirs.modified(str(p)), p
        for detail in (False, True):
            key = (lambda i: i["name"]) if detail else None
            assert sorted(ours.ls(str(p), detail=detail), key=key) == sorted(
                theirs.ls(str(p), detail=detail), key=key
            ), (p, detail)
    with pytest.raises(FileNotFoundError):
        ours.info(str(tree / "nope"))


def test_find_and_glob_match_fsspec(tree: pathlib.Path) -> None:
    ours, theirs = _both()
    for p in [tree, tree / "sub", tree / "a.parquet", tree / "nope", tree / "empty"]:
        for withdirs in (False, True):
            assert ours.find(str(p), withdirs=withdirs) == theirs.find(str(p), withdirs=withdirs), (
                p,
                withdirs,
            )
    patterns = [
        f"{tree}/*.parquet",
        f"{tree}/_state.json.*.tmp",
        f"{tree}/*",
        f"{tree}/.*",
        f"{tree}/?.parquet",
        f"{tree}/[ab].parquet",
        f"{tree}/[!a]*.parquet",
        f"{tree}/sub",
        f"{tree}/nope/*.tmp",
        f"{tree}/nope",
        f"{tree}/*/",  # folders only: fsspec's own rule, handed to it
        f"{tree}/**/*.csv",  # handed to fsspec
        f"{tree}/*/d*",  # magic above the last part: handed to fsspec
    ]
    for pattern in patterns:
        assert ours.glob(pattern) == theirs.glob(pattern), pattern


def test_writing_moving_removing_match_fsspec(tmp_path: pathlib.Path) -> None:
    results = []
    for fs, name in ((LocalFiles(), "ours"), (LocalFileSystem(auto_mkdir=True), "theirs")):
        root = tmp_path / name
        fs.pipe_file(f"{root}/new/deep/a.bin", b"payload")  # parents made
        with fs.open(f"{root}/w/x.txt", "w") as f:
            f.write("text\n")
        with fs.open(f"{root}/w/x.txt") as f:
            read_back = f.read()
        fs.mv(f"{root}/new/deep/a.bin", f"{root}/moved/here/a.bin")
        fs.cp_file(f"{root}/moved/here/a.bin", f"{root}/copied/a.bin")
        fs.makedirs(f"{root}/made/dir", exist_ok=True)
        fs.makedirs(f"{root}/made/dir", exist_ok=True)
        with pytest.raises(FileExistsError):
            fs.makedirs(f"{root}/made/dir")
        with pytest.raises(FileExistsError):
            fs.pipe_file(f"{root}/copied/a.bin", b"other", mode="create")
        with pytest.raises(ValueError, match="recursive=True"):
            fs.rm(f"{root}/made")
        fs.rm([f"{root}/made"], recursive=True)
        fs.rm_file(f"{root}/w/x.txt")
        with pytest.raises(FileNotFoundError):
            fs.rm_file(f"{root}/w/x.txt")
        listing = [p.removeprefix(str(root)) for p in fs.find(str(root), withdirs=True)]
        results.append((read_back, fs.cat_file(f"{root}/copied/a.bin"), listing))
    assert results[0] == results[1]
    assert results[0][0] == b"text\n" and results[0][1] == b"payload"


def test_other_calls_go_to_fsspec_and_it_pickles(tree: pathlib.Path) -> None:
    fs = LocalFiles()
    assert fs._fsspec is None
    assert fs.du(str(tree / "sub")) == LocalFileSystem().du(str(tree / "sub"))  # not ours
    assert fs.cat_file(str(tree / "b.parquet"), start=1) == b"b"  # an option we leave
    assert isinstance(fs.fsspec, LocalFileSystem)
    copy = pickle.loads(pickle.dumps(fs))
    assert copy._fsspec is None and copy.cat_file(str(tree / "a.parquet")) == b"a"
    assert fs.protocol == LocalFileSystem.protocol


def test_importing_it_loads_no_fsspec() -> None:
    code = (
        "import sys; from hygge_core.localfs import LocalFiles; fs = LocalFiles(); "
        "fs.exists('/'); fs.find('/proc/self/fdinfo'); print(sorted(m for m in sys.modules "
        "if m.startswith(('fsspec', 'asyncio'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
