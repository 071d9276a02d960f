"""`schema_drift: evolve` beyond added columns and widenings: a column the home drops is
kept in the store and filled with NULL; a type change that is not a widening fails with
the diff, old → new per column, and writes nothing."""

from __future__ import annotations

import hashlib
import pathlib
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import run_cli

FIRST = pa.table(
    {
        "id": pa.array([1, 2], pa.int64()),
        "name": pa.array(["Ann", "Bø"], pa.string()),
        "score": pa.array([10, 20], pa.int32()),
    }
)


def _flows(tmp_path: pathlib.Path, store: str) -> pathlib.Path:
    path = tmp_path / "flows.yaml"
    path.write_text(
        f"flows:\n  people:\n    home: in.parquet\n    store: {store}\n    schema_drift: evolve\n"
    )
    return path


def _snapshot(folder: pathlib.Path) -> dict[str, str]:
    """The data files and their bytes (the state file also records a failed run)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.parquet"))
    }


def test_a_dropped_column_is_kept_and_filled_with_null(tmp_path: pathlib.Path) -> None:
    path = _flows(tmp_path, "lake/people/")
    pq.write_table(FIRST, tmp_path / "in.parquet")
    assert run_cli("run", str(path), cwd=tmp_path).code == 0
    # The home drops `name`, widens `score` and adds `city`.
    second = pa.table(
        {
            "id": pa.array([3], pa.int64()),
            "score": pa.array([2**40], pa.int64()),
            "city": pa.array(["Åre"], pa.string()),
        }
    )
    pq.write_table(second, tmp_path / "in.parquet")
    result = run_cli("run", str(path), cwd=tmp_path)
    assert result.code == 0, result.text
    files = sorted((tmp_path / "lake" / "people").glob("*.parquet"))
    newest = pq.read_table(files[-1])
    assert newest.schema.names == ["id", "name", "score", "city"]
    assert newest.to_pylist() == [{"id": 3, "name": None, "score": 2**40, "city": "Åre"}]
    assert newest.schema.field("score").type == pa.int64()


def test_a_type_change_that_is_no_widening_fails_with_the_diff(tmp_path: pathlib.Path) -> None:
    path = _flows(tmp_path, "lake/people/")
    pq.write_table(FIRST, tmp_path / "in.parquet")
    assert run_cli("run", str(path), cwd=tmp_path).code == 0
    before = _snapshot(tmp_path / "lake")
    changed = FIRST.drop_columns(["name"]).set_column(
        1, "score", pa.array(["10", "20"], pa.string())
    )
    pq.write_table(changed, tmp_path / "in.parquet")
    result = run_cli("run", str(path), cwd=tmp_path)
    assert result.code == 1
    assert (
        "[people] FAILED: store lake/people/: schema changed (evolve policy); nothing was "
        "written:\n"
        "      - name: string (missing from the home)\n"
        "      ~ score: int32 → string\n"
        "    hint: a type change that is not a widening would reinterpret the stored values: "
        "cast the column in the home back to the stored type, or run once with --mode "
        "replace to start over with the new types"
    ) in result.err
    assert _snapshot(tmp_path / "lake") == before
    # The hint's way out works.
    result = run_cli("run", str(path), "--mode", "replace", cwd=tmp_path)
    assert result.code == 0, result.text
    assert pq.read_table(tmp_path / "lake" / "people").column("score").to_pylist() == ["10", "20"]


def test_a_dropped_column_in_a_sql_table_gets_null(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "app.db"
    path = _flows(tmp_path, f'{{type: sql, url: "sqlite:///{db}", table: people}}')
    pq.write_table(FIRST, tmp_path / "in.parquet")
    assert run_cli("run", str(path), cwd=tmp_path).code == 0
    pq.write_table(FIRST.drop_columns(["name"]).slice(0, 1), tmp_path / "in.parquet")
    result = run_cli("run", str(path), cwd=tmp_path)
    assert result.code == 0, result.text
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, name, score FROM people ORDER BY rowid").fetchall()
    assert rows == [(1, "Ann", 10), (2, "Bø", 20), (1, None, 10)]
