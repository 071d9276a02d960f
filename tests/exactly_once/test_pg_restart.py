"""PostgreSQL restarted in the middle of a load: the flow retries and lands exactly."""

from __future__ import annotations

import os
import pathlib
import secrets
import shlex
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sa = pytest.importorskip("sqlalchemy")
pytest.importorskip("hygge_sql")

HYGGE = os.path.join(os.path.dirname(sys.executable), "hygge")


def loading(engine: sa.Engine, schema: str) -> bool:
    """Whether another session is writing into `schema` right now (COPY or INSERT)."""
    try:
        with engine.connect() as conn:
            return bool(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                        "AND state = 'active' AND (query ILIKE 'copy%' OR query ILIKE 'insert%')"
                    )
                ).scalar()
            )
    except sa.exc.OperationalError:
        return False


def test_server_restart_mid_load_is_retried(tmp_path: pathlib.Path) -> None:
    url, ctl = os.environ.get("HYGGE_TEST_PG_URL"), os.environ.get("HYGGE_TEST_PG_CTL")
    if not (url and ctl):
        if os.environ.get("HYGGE_REQUIRE_SERVICES") == "1":
            pytest.fail("HYGGE_TEST_PG_URL / HYGGE_TEST_PG_CTL are not set")
        pytest.skip("PostgreSQL not running")
    n = 2_000_000
    table = pa.table({"id": np.arange(n, dtype=np.int64), "x": np.random.default_rng(3).random(n)})
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=100_000)
    schema = f"hygge_r_{secrets.token_hex(4)}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    flows = tmp_path / "flows.yaml"
    flows.write_text(f"""
flows:
  t:
    home: {{type: parquet, path: {tmp_path}/in.parquet, unit_rows: 100000}}
    store: {{type: sql, url: {url}, table: {schema}.t, mode: replace}}
    retry: {{attempts: 5, initial: 0.5, maximum: 2}}
""")
    try:
        proc = subprocess.Popen(
            [HYGGE, "run", str(flows)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        # Wait until a load is running in the server, then restart it under hygge's feet.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not loading(engine, schema):
            assert proc.poll() is None, "the load finished before the restart; make it bigger"
            time.sleep(0.05)
        assert loading(engine, schema), "no load seen in pg_stat_activity"
        engine.dispose()
        subprocess.run(
            [*shlex.split(ctl), "restart", "-m", "immediate"], check=True, capture_output=True
        )
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, out + err
        with engine.connect() as conn:
            count, total = conn.execute(
                sa.text(f'SELECT count(*), sum(id) FROM "{schema}".t')
            ).one()
        assert count == n and total == n * (n - 1) // 2
        assert "retrying in" in err, err
    finally:
        engine.dispose()
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
