"""The local flow lock excludes a second run and leaves nothing behind when it is let go."""

from __future__ import annotations

import pathlib
import threading

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from hygge_core.filecommit import FileCommitter
from hygge_core.locallock import flock_file
from tests.conftest import run_cli


def flows(tmp_path: pathlib.Path, home: str) -> pathlib.Path:
    path = tmp_path / "flows.yaml"
    path.write_text(f"flows:\n  t:\n    home: {home}\n    store: {tmp_path}/lake/\n")
    return path


def test_a_failed_flow_leaves_no_store_folder_behind(tmp_path: pathlib.Path) -> None:
    result = run_cli("run", str(flows(tmp_path, f"{tmp_path}/nosuch.parquet")))
    assert result.code == 1, result.text
    assert not (tmp_path / "lake").exists()


def test_a_failed_flow_leaves_the_store_as_it_was(tmp_path: pathlib.Path) -> None:
    pq.write_table(pa.table({"id": [1, 2, 3]}), tmp_path / "in.parquet")
    assert run_cli("run", str(flows(tmp_path, f"{tmp_path}/in.parquet"))).code == 0
    before = sorted(p for p in (tmp_path / "lake").rglob("*"))
    assert not (tmp_path / "lake" / "_hygge" / "locks").exists()
    result = run_cli("run", str(flows(tmp_path, f"{tmp_path}/nosuch.parquet")))
    assert result.code == 1, result.text
    assert sorted(p for p in (tmp_path / "lake").rglob("*")) == before


def test_a_second_run_of_a_flow_is_refused_while_one_holds_it(tmp_path: pathlib.Path) -> None:
    pq.write_table(pa.table({"id": [1, 2, 3]}), tmp_path / "in.parquet")
    spec = flows(tmp_path, f"{tmp_path}/in.parquet")
    committer = FileCommitter(
        fsspec.filesystem("file"), str(tmp_path / "lake"), "t", atomic_rename=True
    )
    with committer.lock():
        result = run_cli("run", str(spec))
        assert result.code == 1
        assert "flow 't' is already running into" in result.text
    assert not (tmp_path / "lake").exists()  # the holder created it and removed it again
    assert run_cli("run", str(spec)).code == 0


def test_the_lock_excludes_while_files_come_and_go(tmp_path: pathlib.Path) -> None:
    counter = tmp_path / "count"
    counter.write_text("0")
    lock = str(tmp_path / "root" / "_hygge" / "targets" / "x.lock")

    def work() -> None:
        for _ in range(100):
            with flock_file(lock, str(tmp_path / "root"), wait=True):
                value = int(counter.read_text())
                counter.write_text(str(value + 1))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.read_text() == "400"
    # The last holder out removed hygge's folders (the root only if it made it).
    assert not (tmp_path / "root" / "_hygge").exists()


def test_a_failed_flow_keeps_an_empty_store_folder_the_user_made(tmp_path: pathlib.Path) -> None:
    (tmp_path / "lake").mkdir()
    result = run_cli("run", str(flows(tmp_path, f"{tmp_path}/nosuch.parquet")))
    assert result.code == 1, result.text
    assert (tmp_path / "lake").is_dir() and not list((tmp_path / "lake").iterdir())
