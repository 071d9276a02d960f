"""Several flows appending to one CSV or JSON-lines file: every row lands, once.

A single-file store rebuilds the file at commit from the bytes it finds, so two commits that
overlap — flows of one run, or two processes — would erase each other's rows. Commits of one
file take its lock, and first land any other flow's interrupted commit of it.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
import yaml

from hygge_core.testing import sample_table, tables_equal

TYPES = {"int64", "string"}
FLOWS = 4


def hygge(*args: str, cwd: pathlib.Path, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-c", "from hygge_core.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def read(path: pathlib.Path) -> pa.Table:
    if path.suffix == ".csv":
        return pacsv.read_csv(path)
    return pajson.read_json(path)


def homes(tmp_path: pathlib.Path) -> list[pa.Table]:
    """One Parquet home per flow, ids distinct across flows, several row groups each."""
    (tmp_path / "src").mkdir()
    tables = []
    for n in range(FLOWS):
        table = sample_table(20_000, seed=n, types=TYPES, nulls=0.0)
        table = table.set_column(0, "id", pa.array(range(n * 100_000, n * 100_000 + 20_000)))
        pq.write_table(table, tmp_path / "src" / f"p{n}.parquet", row_group_size=2000)
        tables.append(table)
    return tables


def flows(tmp_path: pathlib.Path, target: str, names: range) -> dict:
    return {
        f"f{n}": {
            "home": {"type": "parquet", "path": f"src/p{n}.parquet", "unit_rows": 4000},
            "store": {"type": target.rsplit(".", 1)[1], "path": target, "mode": "append"},
        }
        for n in names
    }


@pytest.mark.parametrize("target", ["out/shared.csv", "out/shared.jsonl"])
def test_concurrent_flows_into_one_file_keep_every_row(tmp_path: pathlib.Path, target: str) -> None:
    tables = homes(tmp_path)
    (tmp_path / "f.yaml").write_text(yaml.safe_dump({"flows": flows(tmp_path, target, range(4))}))
    done = hygge("run", "f.yaml", "--concurrency", "4", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    landed = read(tmp_path / target)
    assert landed.num_rows == 80_000
    assert tables_equal(landed.select(tables[0].column_names), pa.concat_tables(tables))


def test_two_processes_into_one_file_keep_every_row(tmp_path: pathlib.Path) -> None:
    tables = homes(tmp_path)
    for name, part in (("a.yaml", [0]), ("b.yaml", [1])):
        (tmp_path / name).write_text(yaml.safe_dump({"flows": flows(tmp_path, "out/s.csv", part)}))
    cmd = [sys.executable, "-c", "from hygge_core.cli import main; main()", "run"]
    # Process a pauses for 3 s right after deciding its commit; b commits in that pause.
    env = {**os.environ, "HYGGE_FAULTS": "commit.record@1=sleep:3"}
    a = subprocess.Popen([*cmd, "a.yaml"], cwd=tmp_path, stderr=subprocess.PIPE, env=env)
    records = tmp_path / "out" / "_hygge" / "commits" / "f0"
    deadline = time.monotonic() + 60
    while not (records.exists() and any(records.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.02)
    b = subprocess.Popen([*cmd, "b.yaml"], cwd=tmp_path, stderr=subprocess.PIPE)
    for proc in (a, b):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    landed = read(tmp_path / "out" / "s.csv")
    assert tables_equal(landed.select(tables[0].column_names), pa.concat_tables(tables[:2]))


def test_another_flows_interrupted_commit_lands_first(tmp_path: pathlib.Path) -> None:
    tables = homes(tmp_path)
    (tmp_path / "a.yaml").write_text(yaml.safe_dump({"flows": flows(tmp_path, "out/s.csv", [0])}))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({"flows": flows(tmp_path, "out/s.csv", [1])}))
    # f0 decides its commit, then dies before the file moves into place.
    killed = hygge("run", "a.yaml", cwd=tmp_path, env={"HYGGE_FAULTS": "commit.record@1=kill"})
    assert killed.returncode == -9
    done = hygge("run", "b.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "completed the interrupted commit" in done.stderr
    assert "(flow 'f0') into" in done.stderr
    # f0's rows (decided before the kill) and f1's both landed, once each.
    landed = read(tmp_path / "out" / "s.csv")
    assert tables_equal(landed.select(tables[0].column_names), pa.concat_tables(tables[:2]))
    again = hygge("run", "a.yaml", cwd=tmp_path)  # f0's own re-run finds nothing left to do
    assert again.returncode == 0, again.stderr
    assert "interrupted commit" not in again.stderr
    landed = read(tmp_path / "out" / "s.csv")
    expected = pa.concat_tables([tables[0], tables[1], tables[0]])
    assert landed.num_rows == expected.num_rows
    assert tables_equal(landed.select(tables[0].column_names), expected, key=None) or (
        sorted(landed.column("id").to_pylist()) == sorted(expected.column("id").to_pylist())
    )
