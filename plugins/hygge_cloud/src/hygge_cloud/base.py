"""What the three cloud storages share: lazy provider imports, labels, and `check`."""

from __future__ import annotations

import importlib
import posixpath
import uuid
from types import ModuleType
from typing import Any, ClassVar

from fsspec.asyn import sync

from hygge_cloud.errors import LINE_LIMIT
from hygge_core import ConnectionConfig, HyggeError, PermanentError, Storage, first_line


def need(module: str, extra: str) -> ModuleType:
    """Import a provider library, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PermanentError(
            f"{module} is not installed ({first_line(exc, LINE_LIMIT)}); "
            f"install it: pip install 'hygge-cloud[{extra}]'"
        ) from None


class CloudStorage(Storage):
    """An object store: no atomic rename, so commits copy server-side then delete."""

    atomic_rename = False
    # Words for "the default chain" in messages, per provider.
    default_label: ClassVar[str] = "the default credentials"

    @classmethod
    def label(cls, connection: ConnectionConfig | None) -> str:
        """Where the credentials come from, for messages: never their values."""
        if connection is not None and connection.connection_name:
            return f"connection '{connection.connection_name}'"
        return cls.default_label

    @classmethod
    def check(
        cls, url: str, connection: ConnectionConfig | None, *, write: bool = False
    ) -> str | None:
        """List the URL's prefix once (credentials, bucket and read access in one request);
        for a store also write and delete a small probe under its `_hygge/` folder."""
        protocol, rest = url.split("://", 1)
        path, _ = cls.split_url(protocol, rest)
        path = path.rstrip("/")
        try:
            fs: Any = cls.filesystem(protocol, connection)
            bucket = fs.hygge_bucket(path)
            if sync(fs.loop, fs._hygge_bucket_missing, bucket):
                raise fs._hygge_missing_bucket(path)
            try:
                fs.ls(path, detail=False)  # credentials, bucket and list access in one request
            except FileNotFoundError:
                if not write:
                    return f"{url}: nothing there (no object or prefix at this path)"
            if write:
                probe = posixpath.join(path, "_hygge", f"check-{uuid.uuid4().hex}.tmp")
                fs.pipe_file(probe, b"")
                fs.rm(probe)
        except HyggeError as exc:
            message = str(exc)
            return message if message.startswith(f"{protocol}://") else f"{url}: {message}"
        except Exception as exc:
            return f"{url}: {type(exc).__name__}: {first_line(str(exc), LINE_LIMIT)}"
        return None
