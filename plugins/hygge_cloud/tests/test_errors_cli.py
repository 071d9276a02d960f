"""Bad credentials, a missing bucket and a denied write: one clear line, exit 1.

Each case runs the real `hygge run` in a subprocess and checks what a user sees: the flow
and the URL named on one line, the cause in words, no traceback, no secret — and that
nothing was written or created as a side effect.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from hygge_core.testing import sample_table

pytestmark = pytest.mark.services

SECRET = "hunter2-s3cr3t-do-not-print"


def _run(
    cli: Any,
    tmp_path: pathlib.Path,
    flows: dict[str, Any],
    connections: dict[str, Any],
    env: dict[str, str | None] | None = None,
) -> Any:
    pq.write_table(sample_table(200), tmp_path / "src.parquet")
    doc = {"connections": connections, "flows": flows}
    (tmp_path / "flows.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return cli("run", "flows.yaml", cwd=tmp_path, env=env)


def _failure_line(done: Any, flow: str) -> str:
    """The run's FAILED line for `flow`, after checking the run failed cleanly."""
    assert done.code == 1, done.text
    assert "Traceback" not in done.text, done.text
    lines = [line for line in done.err.splitlines() if line.startswith(f"[{flow}] FAILED: ")]
    assert len(lines) == 1, done.text
    print(lines[0])  # shown with pytest -s: what users read
    return lines[0]


def _store(url: str, connection: str = "lake") -> dict[str, Any]:
    return {"type": "parquet", "path": url, "connection": connection, "mode": "replace"}


# -- S3 --------------------------------------------------------------------------------
def test_s3_wrong_secret(auth_s3, cli, fresh, tmp_path: pathlib.Path) -> None:
    bucket = fresh("denied")
    auth_s3.fs.mkdir(bucket)
    key, _ = auth_s3.admin
    done = _run(
        cli,
        tmp_path,
        {"orders": {"home": "src.parquet", "store": _store(f"s3://{bucket}/orders/")}},
        {"lake": auth_s3.connection(key, SECRET)},
    )
    line = _failure_line(done, "orders")
    assert f"s3://{bucket}/orders" in line
    assert "S3 rejected the credentials (SignatureDoesNotMatch" in line
    assert "check connection 'lake'" in line
    assert SECRET not in done.text
    assert auth_s3.fs.find(bucket) == []


def test_s3_unknown_key(auth_s3, cli, fresh, tmp_path: pathlib.Path) -> None:
    bucket = fresh("denied")
    auth_s3.fs.mkdir(bucket)
    done = _run(
        cli,
        tmp_path,
        {"orders": {"home": "src.parquet", "store": _store(f"s3://{bucket}/orders/")}},
        {"lake": auth_s3.connection("AKIANOSUCHKEY0000000", SECRET)},
    )
    line = _failure_line(done, "orders")
    assert f"s3://{bucket}/orders" in line
    assert "S3 rejected the credentials (InvalidAccessKeyId" in line
    assert SECRET not in done.text


def test_s3_missing_bucket_is_not_created(auth_s3, cli, fresh, tmp_path: pathlib.Path) -> None:
    bucket = fresh("no-such-bucket")
    done = _run(
        cli,
        tmp_path,
        {"orders": {"home": "src.parquet", "store": _store(f"s3://{bucket}/orders/")}},
        {"lake": auth_s3.connection(*auth_s3.admin)},
    )
    line = _failure_line(done, "orders")
    assert f"s3://{bucket}/" in line
    assert f"bucket '{bucket}' does not exist" in line
    assert "hygge never creates buckets" in line
    assert not auth_s3.fs.exists(bucket), "a mistyped bucket must not be created"


def test_s3_missing_bucket_as_home(auth_s3, cli, fresh, tmp_path: pathlib.Path) -> None:
    bucket = fresh("no-such-bucket")
    flows = {
        "load": {
            "home": {"type": "parquet", "path": f"s3://{bucket}/in/", "connection": "lake"},
            "store": "out/",
        }
    }
    done = _run(cli, tmp_path, flows, {"lake": auth_s3.connection(*auth_s3.admin)})
    line = _failure_line(done, "load")
    assert f"s3://{bucket}/in" in line and f"bucket '{bucket}' does not exist" in line


def test_s3_denied_write(auth_s3, cli, fresh, tmp_path: pathlib.Path) -> None:
    bucket = fresh("readonly")
    auth_s3.fs.mkdir(bucket)
    key, secret = auth_s3.reader
    done = _run(
        cli,
        tmp_path,
        {"orders": {"home": "src.parquet", "store": _store(f"s3://{bucket}/orders/")}},
        {"lake": auth_s3.connection(key, secret)},
    )
    line = _failure_line(done, "orders")
    assert f"s3://{bucket}/orders" in line
    assert "access denied (AccessDenied" in line
    assert "check the permissions of connection 'lake'" in line
    assert secret not in done.text
    # Nothing half-written is left: no object at all, no dangling multipart upload.
    assert auth_s3.fs.find(bucket) == []
    assert auth_s3.fs.list_multipart_uploads(bucket) == []


def test_s3_no_credentials_at_all(s3, cli, fresh, tmp_path: pathlib.Path) -> None:
    """No connection, no AWS_* variables, no profile: the default chain finds nothing."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_CONFIG_FILE": str(home / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": s3.connection["endpoint_url"],
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = _run(
        cli, tmp_path, {"orders": {"home": "src.parquet", "store": s3.url("o") + "/"}}, {}, env
    )
    line = _failure_line(done, "orders")
    assert s3.url("o") in line
    assert "no S3 credentials found (set key and secret on a connection" in line


# -- Azure -----------------------------------------------------------------------------
def _account_key(conn_str: str) -> str:
    return dict(p.split("=", 1) for p in conn_str.split(";") if p)["AccountKey"]


def test_azure_wrong_key(azure, cli, fresh, tmp_path: pathlib.Path) -> None:
    conn_str = azure.connection["connection_string"]
    wrong = conn_str.replace(_account_key(conn_str), "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXk=")
    done = _run(
        cli,
        tmp_path,
        {"orders": {"home": "src.parquet", "store": _store(azure.url("orders") + "/")}},
        {"lake": {"type": "azure", "connection_string": wrong}},
    )
    line = _failure_line(done, "orders")
    assert azure.url("orders") in line
    assert "Azure Storage rejected the credentials" in line
    assert "check connection 'lake'" in line
    assert "d3Jvbmcga2V5" not in done.text and _account_key(conn_str) not in done.text


def test_azure_missing_container_is_not_created(azure, cli, fresh, tmp_path: pathlib.Path) -> None:
    container = fresh("no-such-container")
    done = _run(
        cli,
        tmp_path,
        {"orders": {"home": "src.parquet", "store": _store(f"az://{container}/orders/")}},
        {"lake": azure.connection},
    )
    line = _failure_line(done, "orders")
    assert f"az://{container}/" in line
    assert f"container '{container}' does not exist" in line
    assert not azure.fs.exists(container)


def test_azure_denied_write(azure, cli, fresh, tmp_path: pathlib.Path) -> None:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    conn_str = azure.connection["connection_string"]
    parts = dict(p.split("=", 1) for p in conn_str.split(";") if p)
    sas = generate_container_sas(
        parts["AccountName"],
        azure.bucket,
        account_key=parts["AccountKey"],
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    read_only = f"BlobEndpoint={parts['BlobEndpoint']};SharedAccessSignature={sas}"
    done = _run(
        cli,
        tmp_path,
        {"orders": {"home": "src.parquet", "store": _store(azure.url("orders") + "/")}},
        {"lake": {"type": "azure", "connection_string": read_only}},
    )
    line = _failure_line(done, "orders")
    assert azure.url("orders") in line
    assert "access denied (AuthorizationPermissionMismatch" in line
    assert "check the permissions of connection 'lake'" in line
    assert sas not in done.text
    assert azure.fs.find(azure.bucket) == []


# -- GCS -------------------------------------------------------------------------------
def test_gcs_missing_bucket_is_not_created(gcs, cli, fresh, tmp_path: pathlib.Path) -> None:
    bucket = fresh("no-such-bucket")
    done = _run(
        cli,
        tmp_path,
        {"orders": {"home": "src.parquet", "store": _store(f"gs://{bucket}/orders/")}},
        {"lake": gcs.connection},
    )
    line = _failure_line(done, "orders")
    assert f"gs://{bucket}/" in line and f"bucket '{bucket}' does not exist" in line
    assert not gcs.fs.exists(bucket)


def test_gcs_unusable_credentials(gcs, cli, fresh, tmp_path: pathlib.Path) -> None:
    """The emulator checks no signature, so the wrong key here is one Google's client
    rejects itself: a JSON that is no service-account key."""
    key = json.dumps({"type": "service_account", "private_key": SECRET})
    connection = {"type": "gcs", "endpoint_url": gcs.connection["endpoint_url"]}
    done = _run(
        cli,
        tmp_path,
        {"orders": {"home": "src.parquet", "store": _store(gcs.url("orders") + "/")}},
        {"lake": {**connection, "credentials_json": key}},
    )
    line = _failure_line(done, "orders")
    assert gcs.url("orders") in line
    assert "the Google credentials of connection 'lake' cannot be used" in line
    assert SECRET not in done.text
