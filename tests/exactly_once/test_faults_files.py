"""Retries, schema drift and bad input on the file side: a clear message, an unchanged store."""

from __future__ import annotations

import contextlib
import pathlib
import subprocess
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import sample_table, tables_equal
from tests.conftest import run_cli


def flows(
    tmp_path: pathlib.Path,
    home: str,
    lake: pathlib.Path | None = None,
    extra: str = "",
    store_extra: str = "",
) -> pathlib.Path:
    path = tmp_path / "flows.yaml"
    path.write_text(f"""
flows:
  t:
    home: {home}
    store: {{type: parquet, path: {lake or tmp_path / "lake"}{store_extra}}}
    retry: {{initial: 0.05, maximum: 0.1}}{extra}
""")
    return path


@pytest.fixture
def home(tmp_path: pathlib.Path) -> pa.Table:
    table = sample_table(5000, seed=2)
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=1000)
    return table


def test_transient_fault_is_retried(tmp_path: pathlib.Path, home: pa.Table) -> None:
    path = flows(tmp_path, f"{{type: parquet, path: {tmp_path}/in.parquet, unit_rows: 1000}}")
    result = run_cli("run", str(path), env={"HYGGE_FAULTS": "unit.staged@2=transient"})
    assert result.code == 0, result.text
    assert "[t] attempt 1 of 3 failed (injected transient fault at unit.staged); retrying in" in (
        result.err
    )
    assert tables_equal(pq.read_table(tmp_path / "lake"), home)


def test_transient_fault_fails_when_retries_run_out(tmp_path: pathlib.Path, home: pa.Table) -> None:
    path = flows(tmp_path, f"{tmp_path}/in.parquet", extra="\n    retry: {attempts: 1}")
    path.write_text(path.read_text().replace("    retry: {initial: 0.05, maximum: 0.1}\n", ""))
    result = run_cli("run", str(path), env={"HYGGE_FAULTS": "batch.staged@1=transient"})
    assert result.code == 1
    assert "injected transient fault" in result.out and "retrying" not in result.err
    assert not list((tmp_path / "lake").glob("*.parquet"))


def test_permanent_fault_fails_fast(tmp_path: pathlib.Path, home: pa.Table) -> None:
    path = flows(tmp_path, f"{tmp_path}/in.parquet")
    result = run_cli("run", str(path), env={"HYGGE_FAULTS": "unit.staged@1=permanent"})
    assert result.code == 1 and "retrying" not in result.err
    assert "t: injected permanent fault at unit.staged" in result.out
    assert not list((tmp_path / "lake").glob("*.parquet"))
    assert not list((tmp_path / "lake").glob("_hygge_staging/t/*"))


def test_permission_denied_while_staging(tmp_path: pathlib.Path, home: pa.Table) -> None:
    path = flows(tmp_path, f"{tmp_path}/in.parquet")
    assert run_cli("run", str(path)).code == 0
    before = pq.read_table(tmp_path / "lake")
    result = run_cli("run", str(path), env={"HYGGE_FAULTS": "batch.staged@1=oserror:EACCES"})
    assert result.code == 1 and "retrying" not in result.err
    assert f"t: parquet {tmp_path}/lake (append): permission denied" in result.out
    assert tables_equal(pq.read_table(tmp_path / "lake"), before)


@contextlib.contextmanager
def tiny_disk(where: pathlib.Path, size: str) -> Iterator[pathlib.Path]:
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def test_disk_full_leaves_the_store_as_it_was(tmp_path: pathlib.Path) -> None:
    small = pa.table({"id": np.arange(1000, dtype=np.int64)})
    big = pa.table(
        {
            "id": np.arange(3_000_000, dtype=np.int64),
            "x": np.random.default_rng(1).random(3_000_000),
        }
    )
    pq.write_table(small, tmp_path / "small.parquet")
    pq.write_table(big, tmp_path / "big.parquet")
    with tiny_disk(tmp_path / "disk", "2m") as disk:
        ok = flows(
            tmp_path,
            f"{tmp_path}/small.parquet",
            lake=disk / "lake",
            store_extra=", compression: none",
        )
        assert run_cli("run", str(ok)).code == 0
        full = flows(
            tmp_path,
            f"{tmp_path}/big.parquet",
            lake=disk / "lake",
            store_extra=", compression: none, mode: replace",
        )
        result = run_cli("run", str(full))
        assert result.code == 1, result.text
        assert f"t: parquet {disk}/lake (replace): no space left on the device" in result.out
        assert "Traceback" not in result.text
        assert tables_equal(pq.read_table(disk / "lake"), small)
        assert not list((disk / "lake").glob("_hygge_staging/t/*"))


def test_corrupt_parquet_file(tmp_path: pathlib.Path, home: pa.Table) -> None:
    (tmp_path / "dir").mkdir()
    pq.write_table(home, tmp_path / "dir" / "a.parquet")
    (tmp_path / "dir" / "b.parquet").write_bytes(b"PAR1 this is not parquet")
    path = flows(tmp_path, f"{tmp_path}/dir/")
    result = run_cli("run", str(path))
    assert result.code == 1
    assert f"t: {tmp_path}/dir/b.parquet is not a readable Parquet file" in result.out
    assert not (tmp_path / "lake").exists() or not list((tmp_path / "lake").glob("*.parquet"))


def test_missing_source_file(tmp_path: pathlib.Path) -> None:
    path = flows(tmp_path, f"{tmp_path}/nope.parquet")
    result = run_cli("run", str(path))
    assert result.code == 1
    assert f"t: no such file or directory: {tmp_path}/nope.parquet" in result.out


def test_strict_schema_drift_fails_before_writing(tmp_path: pathlib.Path) -> None:
    pq.write_table(pa.table({"id": pa.array([1, 2], pa.int32())}), tmp_path / "in.parquet")
    path = flows(tmp_path, f"{tmp_path}/in.parquet")
    assert run_cli("run", str(path)).code == 0
    pq.write_table(
        pa.table({"id": pa.array([3], pa.int64()), "name": ["x"]}), tmp_path / "in.parquet"
    )
    result = run_cli("run", str(path))
    assert result.code == 1
    assert "schema changed (strict policy); nothing was written" in result.out
    assert "~ id: int32 → int64" in result.out and "+ name: string (new in the home)" in (
        result.out
    )
    assert "hint: set schema_drift: evolve" in result.out
    assert pq.read_table(tmp_path / "lake").num_rows == 2


def test_evolve_accepts_added_and_widened_columns(tmp_path: pathlib.Path) -> None:
    pq.write_table(pa.table({"id": pa.array([1, 2], pa.int32())}), tmp_path / "in.parquet")
    path = flows(tmp_path, f"{tmp_path}/in.parquet", extra="\n    schema_drift: evolve")
    assert run_cli("run", str(path)).code == 0
    pq.write_table(
        pa.table({"id": pa.array([3], pa.int64()), "name": ["x"]}), tmp_path / "in.parquet"
    )
    assert run_cli("run", str(path)).code == 0
    # A removed column stays in the store: the rows written from now on hold NULL in it.
    pq.write_table(pa.table({"name": ["y"]}), tmp_path / "in.parquet")
    assert run_cli("run", str(path)).code == 0
    newest = sorted((tmp_path / "lake").glob("*.parquet"))[-1]
    assert pq.read_table(newest).to_pylist() == [{"id": None, "name": "y"}]


def test_files_half_written_by_a_killed_commit_are_removed(
    tmp_path: pathlib.Path, home: pa.Table
) -> None:
    """A SIGKILL inside an atomic write leaves its temporary file (the kit's random-instant
    kills found it); the next run's recover removes it, and only this flow's."""
    path = flows(tmp_path, f"{tmp_path}/in.parquet")
    assert run_cli("run", str(path)).code == 0
    meta = tmp_path / "lake" / "_hygge"
    (meta / "state" / "t.json.0a1b.tmp").write_text('{"flow": "t", "cur')
    (meta / "commits" / "t").mkdir(parents=True, exist_ok=True)
    (meta / "commits" / "t" / "run-1.json.2c3d.tmp").write_text('{"run_id"')
    (meta / "state" / "other.json.4e5f.tmp").write_text("{")  # another flow's: not ours
    result = run_cli("run", str(path))
    assert result.code == 0, result.text
    assert "removed t.json.0a1b.tmp, left by a killed run" in result.err
    assert "removed run-1.json.2c3d.tmp, left by a killed run" in result.err
    assert sorted(p.name for p in (meta / "state").iterdir()) == ["other.json.4e5f.tmp", "t.json"]
    assert list((meta / "commits" / "t").iterdir()) == []
    assert tables_equal(pq.read_table(tmp_path / "lake"), pa.concat_tables([home, home]))
