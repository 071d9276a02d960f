"""Secrets never appear in any output: not on success, not on failure, not in any command.

Passwords in URLs, passwords and keys in connections, and values from `${VAR}` are
grepped for in everything `hygge` prints.
"""

from __future__ import annotations

import os
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import run_cli

PASSWORD = "Pw-S3cr3t-9x7"
ENV_PASSWORD = "EnvPw-Hush-4q2"
S3_SECRET = "S3-Hush-Secret-Key-5k1"


def need(var: str) -> str:
    value = os.environ.get(var)
    if not value:
        if os.environ.get("HYGGE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{var} is not set: start scripts/services.py")
        pytest.skip(f"{var} is not set")
    return value


def with_password(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


def test_no_command_prints_a_secret(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("hygge_sql")
    pg = need("HYGGE_TEST_PG_URL")  # trust auth: any password is accepted
    pq.write_table(pa.table({"id": [1, 2, 3]}), tmp_path / "in.parquet")
    pg_parts = pg.split("://", 1)[1].split("@", 1)[1]
    host_port, database = pg_parts.split("/", 1)
    host, port = host_port.split(":")
    flows = tmp_path / "flows.yaml"
    flows.write_text(f"""
connections:
  warehouse:
    type: sql
    drivername: postgresql+psycopg
    host: {host}
    port: {port}
    username: postgres
    password: ${{HYGGE_SECRET_PW}}
    database: {database}
flows:
  by_url:
    home: {tmp_path}/in.parquet
    store: {{type: sql, url: "{with_password(pg, PASSWORD)}", table: secret_t1, mode: replace}}
  by_connection:
    home: {tmp_path}/in.parquet
    store: {{type: sql, connection: warehouse, table: secret_t2, mode: replace}}
  failing:
    home: {{type: sql, url: "{with_password(pg, PASSWORD)}", table: no_such_table_here}}
    store: {tmp_path}/lake/
""")
    env = {"HYGGE_SECRET_PW": ENV_PASSWORD}
    outputs = []
    for args in (
        ["run", str(flows)],
        ["run", str(flows), "--log-format", "json"],
        ["run", str(flows), "--dry-run"],
        ["validate", str(flows), "--connect"],
        ["state", "show", str(flows)],
        ["state", "show", str(flows), "--json"],
        ["preview", str(flows), "--flow", "failing"],
        ["run", str(flows), "-v"],
    ):
        result = run_cli(*args, env=env)
        outputs.append((args, result))
    run = outputs[0][1]
    assert run.code == 1, run.text  # the failing flow fails; the others commit
    assert "no_such_table_here" in run.text
    assert "***" in outputs[2][1].text  # the dry run shows the URL, masked
    for args, result in outputs:
        for secret in (PASSWORD, ENV_PASSWORD):
            assert secret not in result.text, f"{secret} leaked by hygge {' '.join(args)}"


def test_cloud_keys_never_show(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("hygge_cloud")
    endpoint = need("HYGGE_TEST_S3_ENDPOINT")
    pq.write_table(pa.table({"id": [1, 2, 3]}), tmp_path / "in.parquet")
    flows = tmp_path / "flows.yaml"
    flows.write_text(f"""
connections:
  lake:
    type: s3
    endpoint_url: {endpoint}
    key: AKIAHYGGETESTKEY
    secret: {S3_SECRET}
    region: us-east-1
flows:
  missing_bucket:
    home: {tmp_path}/in.parquet
    store: {{type: parquet, path: "s3://hygge-no-such-bucket-xyz/t/", connection: lake}}
""")
    for args in (
        ["run", str(flows)],
        ["validate", str(flows), "--connect"],
        ["run", str(flows), "--log-format", "json", "-v"],
    ):
        result = run_cli(*args)
        assert result.code != 0
        assert S3_SECRET not in result.text, f"secret leaked by hygge {' '.join(args)}"
