"""A source rewritten between a crash and the re-run is read again, not adopted stale.

A killed run leaves fully staged units for the next run to adopt. The units' fingerprints
carry each file's version (size, mtime, inode here; ETag or generation on object stores;
the footer for Parquet), so after the six source files are rewritten the re-run must land
exactly the new rows — none of what the killed run staged from the old files.
"""

from __future__ import annotations

import pathlib

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import sample_table, tables_equal
from tests.exactly_once import killloop

TYPES = {"int64", "string"}


def write_home(root: pathlib.Path, fmt: str, table: pa.Table) -> None:
    """Six files of the table, in `fmt`."""
    (root / "home").mkdir(exist_ok=True)
    per = table.num_rows // 6
    for i in range(6):
        part = table.slice(i * per, per)
        if fmt == "csv":
            pacsv.write_csv(part, root / "home" / f"f{i}.csv")
        else:
            pq.write_table(part, root / "home" / f"f{i}.parquet")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_rewritten_sources_are_read_again(tmp_path: pathlib.Path, fmt: str) -> None:
    old = sample_table(6000, seed=3, types=TYPES, nulls=0.0)
    write_home(tmp_path, fmt, old)
    flows = tmp_path / "flows.yaml"
    flows.write_text(f"""
flows:
  t:
    parallelism: 1
    home: {{type: {fmt}, path: {tmp_path}/home}}
    store: {{type: parquet, path: {tmp_path}/lake, mode: replace}}
""")
    killed = killloop.run(str(flows), kill=killloop.Kill(point="unit.staged", nth=2))
    assert killed.returncode == -9, killed.stderr
    staged = list((tmp_path / "lake" / "_hygge_staging").rglob("_units/*.json"))
    assert len(staged) == 2, staged

    # Every file is rewritten: other values, other row counts (600 rows per file).
    new = sample_table(3600, seed=4, types=TYPES, nulls=0.0)
    new = new.set_column(0, "id", pa.array(range(100_000, 103_600), pa.int64()))
    write_home(tmp_path, fmt, new)

    rerun = killloop.run(str(flows))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "resumed" not in rerun.stderr
    landed = pq.read_table(tmp_path / "lake")
    assert tables_equal(landed, new), f"{landed.num_rows} rows landed, 3,600 new expected"


def test_unchanged_sources_are_still_adopted(tmp_path: pathlib.Path) -> None:
    table = sample_table(6000, seed=3, types=TYPES, nulls=0.0)
    write_home(tmp_path, "csv", table)
    flows = tmp_path / "flows.yaml"
    flows.write_text(f"""
flows:
  t:
    parallelism: 1
    home: {{type: csv, path: {tmp_path}/home}}
    store: {{type: parquet, path: {tmp_path}/lake, mode: replace}}
""")
    killloop.run(str(flows), kill=killloop.Kill(point="unit.staged", nth=2))
    rerun = killloop.run(str(flows))
    assert rerun.returncode == 0, rerun.stderr
    assert "resumed 2 of 6 work unit(s) (2,000 rows)" in rerun.stderr
    assert tables_equal(pq.read_table(tmp_path / "lake"), table)


def test_content_id_sees_a_same_size_rewrite_in_place(tmp_path: pathlib.Path) -> None:
    import fsspec

    from hygge_core import content_id

    fs = fsspec.filesystem("file")
    path = tmp_path / "a.csv"
    path.write_bytes(b"id\n1\n")
    first = content_id(fs, str(path))
    assert content_id(fs, str(path)) == first  # stable while the file is unchanged
    path.write_bytes(b"id\n2\n")  # same size, same inode
    assert content_id(fs, str(path)) != first
