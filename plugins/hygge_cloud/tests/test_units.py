"""Pieces that need no emulator: registration, URLs, connection models, copies, pickling."""

from __future__ import annotations

import asyncio
import pickle
import types

import pytest
from hygge_cloud import AzureConnection, GCSConnection, S3Connection
from hygge_cloud.azure import AzureStorage, wait_for_copy
from pydantic import ValidationError

from hygge_core.plugins import load_registry


def test_registered_through_the_entry_point() -> None:
    registry = load_registry()
    info = registry.plugins["hygge-cloud"]
    assert sorted(info.storages) == ["abfs", "abfss", "az", "gcs", "gs", "s3", "s3a"]
    assert registry.storages["s3"].atomic_rename is False
    assert registry.storages["abfss"] is AzureStorage


@pytest.mark.parametrize(
    ("rest", "path", "settings"),
    [
        ("raw/events/2024", "raw/events/2024", {}),
        (
            "raw@contosolake.dfs.core.windows.net/events/2024",
            "raw/events/2024",
            {"account_name": "contosolake"},
        ),
        ("raw@contosolake.blob.core.windows.net", "raw", {"account_name": "contosolake"}),
        (
            "raw@acct.dfs.core.chinacloudapi.cn/x",
            "raw/x",
            {"account_name": "acct", "account_host": "acct.blob.core.chinacloudapi.cn"},
        ),
    ],
)
def test_azure_urls(rest: str, path: str, settings: dict[str, str]) -> None:
    assert AzureStorage.split_url("abfss", rest) == (path, settings)


@pytest.mark.parametrize(
    ("model", "fields", "message"),
    [
        (S3Connection, {"key": "k"}, "key and secret go together"),
        (S3Connection, {"key": "k", "secret": "s", "profile": "p"}, "either profile or key"),
        (S3Connection, {"anonymous": True, "profile": "p"}, "anonymous: true cannot"),
        (AzureConnection, {"account_name": "a", "client_id": "c"}, "needs tenant_id, client_id"),
        (
            AzureConnection,
            {"account_name": "a", "account_key": "k", "sas_token": "s"},
            "give one of account_key",
        ),
        (AzureConnection, {"account_key": "k"}, "account_name is required"),
        (
            GCSConnection,
            {"credentials_file": "/k.json", "anonymous": True},
            "give one of credentials_file",
        ),
        (S3Connection, {"keyy": "k"}, "Extra inputs are not permitted"),
    ],
)
def test_connection_models_reject_ambiguity(model: type, fields: dict, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate({"type": model.model_fields["type"].default, **fields})
    assert message in str(info.value)


class _Blob:
    """A blob client whose copy is reported "pending" a few times, then `final`."""

    def __init__(self, pending: int, final: str) -> None:
        self.pending, self.final, self.polls = pending, final, 0

    async def get_blob_properties(self) -> types.SimpleNamespace:
        self.polls += 1
        status = "pending" if self.polls <= self.pending else self.final
        return types.SimpleNamespace(copy=types.SimpleNamespace(status=status))


def test_a_pending_azure_copy_is_awaited(monkeypatch: pytest.MonkeyPatch) -> None:
    """Azurite always copies at once; Azure may answer "pending". hygge deletes the source
    right after, so the copy must be complete first."""
    monkeypatch.setattr(asyncio, "sleep", _no_sleep)
    blob = _Blob(pending=3, final="success")
    asyncio.run(wait_for_copy(blob, "pending", "c/src", "c/dst"))
    assert blob.polls == 4
    failed = _Blob(pending=1, final="failed")
    with pytest.raises(OSError, match="copy of c/src to c/dst ended 'failed'"):
        asyncio.run(wait_for_copy(failed, "pending", "c/src", "c/dst"))
    done = _Blob(pending=0, final="success")
    asyncio.run(wait_for_copy(done, "success", "c/src", "c/dst"))
    assert done.polls == 0


async def _no_sleep(_: float) -> None:
    return None


def test_filesystems_pickle() -> None:
    pytest.importorskip("s3fs")
    from hygge_cloud.s3 import S3Storage

    conn = S3Connection(key="k", secret="s", endpoint_url="http://127.0.0.1:9")
    fs = S3Storage.filesystem("s3a", conn)
    copy = pickle.loads(pickle.dumps(fs))
    assert type(copy).__name__ == "HyggeS3FileSystem"
    assert copy.hygge_scheme == "s3a" and copy.hygge_label == fs.hygge_label


def test_errors_keep_their_builtin_family() -> None:
    from hygge_cloud.errors import Fault, to_error

    from hygge_core import PermanentError, TransientError

    denied = to_error(Fault("denied", "AccessDenied"), "s3://b/k", "connection 'x'", "S3")
    busy = to_error(Fault("transient", "SlowDown"), "s3://b/k", "connection 'x'", "S3")
    assert isinstance(denied, PermissionError) and isinstance(denied, PermanentError)
    assert isinstance(busy, ConnectionError) and isinstance(busy, TransientError)
    assert str(denied) == (
        "s3://b/k: access denied (AccessDenied); check the permissions of connection 'x'"
    )
