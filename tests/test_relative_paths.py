"""Relative paths in flows.yaml are relative to the file's own folder, not to the working
directory `hygge` was started in."""

from __future__ import annotations

import pathlib
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import run_cli


def test_paths_resolve_against_the_files_folder_from_another_directory(
    tmp_path: pathlib.Path,
) -> None:
    conf = tmp_path / "project" / "conf"
    (conf / "data").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1, 2, 3]}), conf / "data" / "users.parquet")
    with sqlite3.connect(conf / "data" / "app.db") as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
        db.executemany("INSERT INTO orders VALUES (?)", [(i,) for i in range(5)])
    (conf / "flows.yaml").write_text(
        """metrics: {textfile: ../metrics/hygge.prom}
connections:
  app: {type: sql, url: "sqlite:///data/app.db"}
flows:
  users:
    home: data/users.parquet
    store: ../lake/users/
  orders:
    home: {type: sql, connection: app, table: orders}
    store: {type: parquet, path: ../lake/orders/}
  files:
    entities: {glob: "data/*.parquet"}
    home: data/{entity}.parquet
    store: ../lake/files/{entity}/
"""
    )
    (tmp_path / "project" / "metrics").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli("run", str(conf / "flows.yaml"), cwd=elsewhere)
    assert result.code == 0, result.text
    lake = tmp_path / "project" / "lake"
    assert pq.read_table(lake / "users").column("id").to_pylist() == [1, 2, 3]
    assert sorted(pq.read_table(lake / "orders").column("id").to_pylist()) == list(range(5))
    assert pq.read_table(lake / "files" / "users").num_rows == 3
    assert "hygge_flow_rows" in (tmp_path / "project" / "metrics" / "hygge.prom").read_text()
    assert list(elsewhere.iterdir()) == []  # nothing landed where hygge was started
    # A relative flows.yaml path works the same: `hygge run conf/flows.yaml` from project/.
    result = run_cli("run", "conf/flows.yaml", "--flow", "users", cwd=tmp_path / "project")
    assert result.code == 0, result.text
    assert pq.read_table(lake / "users").num_rows == 6
