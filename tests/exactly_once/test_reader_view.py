"""What a reader sees after a crash inside a commit is what docs/write-modes.md says.

A folder of files switches file by file after the commit is decided, so a crash among the
moves leaves old and new files visible together until the flow's next run; a single file
switches in one rename, so a reader sees the old file or the new one. The docs and the
behaviour are checked together, so neither can drift from the other.
"""

from __future__ import annotations

import pathlib

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from hygge_core.testing import sample_table, tables_equal
from tests.exactly_once import killloop

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"
TYPES = {"int64", "string"}


def flows(root: pathlib.Path, store: str) -> str:
    path = root / "flows.yaml"
    kind = "csv" if store.endswith(".csv") else "parquet"
    path.write_text(f"""
flows:
  t:
    parallelism: 1
    home: {{type: parquet, path: {root}/home}}
    store: {{path: {root}/{store}, mode: replace, type: {kind}}}
""")
    return str(path)


def home(root: pathlib.Path, seed: int, first_id: int) -> pa.Table:
    table = sample_table(3000, seed=seed, types=TYPES, nulls=0.0)
    table = table.set_column(0, "id", pa.array(range(first_id, first_id + 3000), pa.int64()))
    (root / "home").mkdir(exist_ok=True)
    for i in range(3):
        pq.write_table(table.slice(i * 1000, 1000), root / "home" / f"f{i}.parquet")
    return table


def test_docs_state_what_readers_of_each_store_may_see() -> None:
    modes = " ".join((DOCS / "write-modes.md").read_text().split())
    concepts = " ".join((DOCS / "concepts.md").read_text().split())
    assert "never a mix, in every mode" not in modes
    assert "**possibly a mix**" in modes
    assert "stays visible **until the flow's next run**" in modes
    assert "the old file or the new one, never a mix" in modes
    assert "may see old and new files together" in concepts
    assert "never a mix." not in concepts.replace("readers never see a mix.", "")


def test_a_crash_among_the_moves_of_a_folder_replace_shows_a_mix(tmp_path: pathlib.Path) -> None:
    spec = flows(tmp_path, "lake")
    old = home(tmp_path, 1, 0)
    assert killloop.run(spec).returncode == 0
    new = home(tmp_path, 2, 10_000)
    killed = killloop.run(spec, kill=killloop.Kill(point="commit.move", nth=2))
    assert killed.returncode == -9
    seen = pq.read_table(tmp_path / "lake")
    # As documented: all the old rows and the new files moved so far (2 of 3).
    assert seen.num_rows == old.num_rows + 2000
    assert sorted(seen.column("id").to_pylist())[:3000] == list(range(3000))
    rerun = killloop.run(spec)
    assert rerun.returncode == 0, rerun.stderr
    assert "completed the interrupted commit" in rerun.stderr
    assert tables_equal(pq.read_table(tmp_path / "lake"), new)


def test_a_crash_in_a_single_file_replace_shows_old_or_new(tmp_path: pathlib.Path) -> None:
    spec = flows(tmp_path, "out/t.csv")
    old = home(tmp_path, 1, 0)
    assert killloop.run(spec).returncode == 0
    new = home(tmp_path, 2, 10_000)
    killed = killloop.run(spec, kill=killloop.Kill(point="commit.record", nth=1))
    assert killed.returncode == -9
    assert tables_equal(pacsv.read_csv(tmp_path / "out" / "t.csv"), old)
    assert killloop.run(spec).returncode == 0
    assert tables_equal(pacsv.read_csv(tmp_path / "out" / "t.csv"), new)
