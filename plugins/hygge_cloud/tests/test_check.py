"""`Storage.check`: what `hygge validate --connect` says about a cloud path, in one line.

File plugins reach it through `context.storage.check(path, connection, write=...)`; these
tests call that resolver method exactly as a plugin's `check()` would.
"""

from __future__ import annotations

import pytest

from hygge_core.plugins import load_registry
from hygge_core.storage import StorageResolver

pytestmark = pytest.mark.services

SECRET = "not-the-secret-at-all-0123456789"


def _resolver(**connections) -> StorageResolver:
    return StorageResolver(load_registry().storages, connections)


def test_usable_paths_answer_none(cloud) -> None:
    cloud.fs.pipe_file(cloud.key("in", "a.parquet"), b"x")
    resolver = _resolver(lake=cloud.connection)
    assert resolver.check(cloud.url("in"), "lake") is None
    assert resolver.check(cloud.url("in", "a.parquet"), "lake") is None
    assert resolver.check(cloud.url("out") + "/", "lake", write=True) is None
    # The write probe leaves nothing behind.
    assert cloud.files("out") == []


def test_home_with_nothing_there(cloud) -> None:
    line = _resolver(lake=cloud.connection).check(cloud.url("nothing"), "lake")
    assert line == f"{cloud.url('nothing')}: nothing there (no object or prefix at this path)"


def test_unknown_bucket(cloud, fresh) -> None:
    bucket = fresh("nope")
    url = f"{cloud.scheme}://{bucket}/t/"
    line = _resolver(lake=cloud.connection).check(url, "lake", write=True)
    word = "container" if cloud.name == "azure" else "bucket"
    assert line == (
        f"{cloud.scheme}://{bucket}/t: {word} '{bucket}' does not exist; hygge never "
        "creates buckets or containers: create it, or fix the path"
    )
    assert not cloud.fs.exists(bucket)


def test_s3_permission_denied_and_rejected(auth_s3, fresh) -> None:
    bucket = fresh("check")
    auth_s3.fs.mkdir(bucket)
    auth_s3.fs.pipe_file(f"{bucket}/in/a", b"x")
    resolver = _resolver(
        reader=auth_s3.connection(*auth_s3.reader),
        wrong=auth_s3.connection(auth_s3.admin[0], SECRET),
    )
    assert resolver.check(f"s3://{bucket}/in", "reader") is None
    denied = resolver.check(f"s3://{bucket}/out/", "reader", write=True)
    assert denied == (
        f"s3://{bucket}/out: access denied (AccessDenied: Access Denied); "
        "check the permissions of connection 'reader'"
    )
    rejected = resolver.check(f"s3://{bucket}/in", "wrong")
    assert rejected is not None and rejected.startswith(
        f"s3://{bucket}/in: S3 rejected the credentials (SignatureDoesNotMatch"
    )
    assert SECRET not in rejected


def test_missing_credentials(monkeypatch: pytest.MonkeyPatch, s3, tmp_path) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.connection["endpoint_url"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    line = _resolver().check(s3.url("in"))
    assert line == (
        f"{s3.url('in')}: no S3 credentials found (set key and secret on a connection, or "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with an instance role)"
    )


def test_azure_without_any_account(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("adlfs")
    for var in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME"):
        monkeypatch.delenv(var, raising=False)
    line = _resolver().check("az://data/in")
    assert line is not None
    assert line.startswith("az://data/in: no Azure storage account: set account_name")


def test_connection_of_the_wrong_type(cloud) -> None:
    other = {"type": "gcs"} if cloud.name != "gcs" else {"type": "s3"}
    line = _resolver(lake=other).check(cloud.url("in"), "lake")
    assert line is not None
    assert line.startswith(f"connection 'lake': its type is '{other['type']}' but ")
    assert f"paths need a connection of type '{cloud.name}'" in line


def test_connection_field_errors_never_show_values() -> None:
    bad = {"type": "s3", "key": SECRET, "profile": "dev", "bogus": SECRET}
    line = _resolver(lake=bad).check("s3://b/t", "lake")
    assert line is not None and SECRET not in line
    assert "unknown field 'bogus'" in line


def test_validate_connect_with_the_proposed_parquet_check(
    monkeypatch: pytest.MonkeyPatch, auth_s3, fresh, tmp_path
) -> None:
    """`hygge validate --connect` once Parquet's check() delegates to the storage (the
    two-line change proposed for hygge-parquet, patched in here): one line per problem."""
    import yaml
    from typer.testing import CliRunner

    from hygge_core.cli import app

    registry = load_registry()
    home_cls, store_cls = registry.homes["parquet"], registry.stores["parquet"]
    monkeypatch.setattr(
        home_cls,
        "check",
        lambda self: self.context.storage.check(self.config.path, self.config.connection),
    )
    monkeypatch.setattr(
        store_cls,
        "check",
        lambda self: self.context.storage.check(
            self.config.path, self.config.connection, write=True
        ),
    )
    bucket = fresh("validate")
    auth_s3.fs.mkdir(bucket)
    auth_s3.fs.pipe_file(f"{bucket}/in/a.parquet", b"x")
    doc = {
        "connections": {"ro": auth_s3.connection(*auth_s3.reader)},
        "flows": {
            "ok": {
                "home": {"type": "parquet", "path": f"s3://{bucket}/in/", "connection": "ro"},
                "store": str(tmp_path / "out") + "/",
            },
            "denied": {
                "home": str(tmp_path / "x.parquet"),
                "store": {"type": "parquet", "path": f"s3://{bucket}/out/", "connection": "ro"},
            },
        },
    }
    (tmp_path / "flows.yaml").write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "flows.yaml"), "--connect"])
    assert result.exit_code == 1, result.output
    assert (
        f"denied: store parquet s3://{bucket}/out/ (append): s3://{bucket}/out: access denied "
        "(AccessDenied: Access Denied); check the permissions of connection 'ro'"
    ) in result.output
    assert "ok:" not in result.output
