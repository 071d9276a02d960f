"""The SQLite example of docs/sql.md runs as documented, with no server."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pyarrow.parquet as pq
import sqlalchemy as sa

REPO = pathlib.Path(__file__).resolve().parents[3]
HYGGE = str(pathlib.Path(sys.executable).with_name("hygge"))


def test_sqlite_example_runs_twice(tmp_path: pathlib.Path) -> None:
    make = subprocess.run(
        [sys.executable, str(REPO / "example/sqlite/make_db.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert make.returncode == 0, make.stderr
    # Its paths are relative to its own folder: a copy beside the data it made reads them.
    flows = tmp_path / "example/sqlite/flows.yaml"
    flows.parent.mkdir(parents=True)
    flows.write_text((REPO / "example/sqlite/flows.yaml").read_text())
    for run in (1, 2):
        done = subprocess.run(
            [HYGGE, "run", str(flows)],
            cwd=REPO / "docs",
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        orders = "10,000" if run == 1 else "0"
        assert f"[orders] committed {orders} rows" in done.stderr, done.stderr
        assert "[customers] committed 1,000 rows" in done.stderr
    lake = pq.read_table(tmp_path / "example/lake/sqlite_orders")
    assert lake.num_rows == 10_000
    assert str(lake.schema.field("amount").type) == "decimal128(10, 2)"
    assert str(lake.schema.field("created_at").type) == "timestamp[us]"
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'example/data/example.db'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM customers")).scalar() == 1_000
        assert conn.execute(sa.text("SELECT count(*) FROM orders")).scalar() == 10_000
        assert conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
        states = conn.execute(sa.text("SELECT flow FROM _hygge_state")).scalars().all()
        assert states == ["customers"]
    assert not (tmp_path / "example/data/warehouse.db").exists()
    engine.dispose()
