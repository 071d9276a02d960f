"""Where file paths live: local disk by default, object stores through storage plugins.

A file-based Home or Store never builds a filesystem itself; it asks its `FlowContext`, which
finds the `Storage` registered for the path's protocol and hands it the named connection, if
any. That is how one storage plugin (hygge-cloud) gives every file plugin `s3://`, `az://` and
`gs://` paths without code of their own.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import fsspec
from fsspec.implementations.local import LocalFileSystem
from pydantic import BaseModel, ConfigDict

from hygge_core.errors import PermanentError


class ConnectionConfig(BaseModel):
    """Settings of a named connection under `connections:`; storages subclass it."""

    model_config = ConfigDict(extra="forbid")
    type: str


class Storage:
    """A family of URL protocols and how to open a filesystem for them.

    Subclasses set `protocols`, `connection_model` (the pydantic model of their named
    connections) and implement `filesystem`. `atomic_rename` tells the commit protocol whether
    a file move is atomic (local disks) or a copy then delete (object stores).
    """

    name: ClassVar[str] = "local"
    protocols: ClassVar[tuple[str, ...]] = ()
    connection_model: ClassVar[type[ConnectionConfig]] = ConnectionConfig
    atomic_rename: ClassVar[bool] = False

    @classmethod
    def filesystem(
        cls, protocol: str, connection: ConnectionConfig | None
    ) -> fsspec.AbstractFileSystem:
        """An fsspec filesystem for `protocol`, authenticated by `connection` if given."""
        raise NotImplementedError

    @classmethod
    def check(cls, url: str, connection: ConnectionConfig | None) -> str | None:
        """Try the connection once; return None when usable, else a one-line reason."""
        return None


class LocalStorage(Storage):
    """Local files: plain paths and `file://` URLs. Renames are atomic."""

    name = "local"
    protocols = ("file", "local")
    atomic_rename = True

    @classmethod
    def filesystem(
        cls, protocol: str, connection: ConnectionConfig | None
    ) -> fsspec.AbstractFileSystem:
        return LocalFileSystem(auto_mkdir=True)


# Protocols whose storage ships in a hygge distribution: named in "install ..." hints.
KNOWN_PROTOCOLS = {
    "s3": "hygge-cloud[s3]",
    "s3a": "hygge-cloud[s3]",
    "az": "hygge-cloud[azure]",
    "abfs": "hygge-cloud[azure]",
    "abfss": "hygge-cloud[azure]",
    "gs": "hygge-cloud[gcs]",
    "gcs": "hygge-cloud[gcs]",
}


def split_protocol(url: str) -> tuple[str, str]:
    """`("s3", "bucket/key")` for `s3://bucket/key`; `("file", abspath)` for local paths."""
    if "://" in url:
        protocol, rest = url.split("://", 1)
        if protocol in ("file", "local"):
            return "file", os.path.abspath(rest)
        return protocol, rest
    return "file", os.path.abspath(os.path.expanduser(url))


class StorageResolver:
    """Maps URLs to filesystems using the storages that plugins registered.

    Picklable (it holds classes and plain settings), so work units on Dask workers resolve
    paths exactly as the driver does. Filesystems are cached per (protocol, connection).
    """

    def __init__(
        self,
        storages: dict[str, type[Storage]],
        connections: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.storages = storages
        self.connections = connections or {}
        self._cache: dict[tuple[str, str | None], fsspec.AbstractFileSystem] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"storages": self.storages, "connections": self.connections, "_cache": {}}

    def storage_for(self, url: str) -> type[Storage]:
        """The storage class serving `url`'s protocol; a clear error naming the extra if none."""
        protocol, _ = split_protocol(url)
        storage = self.storages.get(protocol)
        if storage is not None:
            return storage
        dist = KNOWN_PROTOCOLS.get(protocol)
        if dist:
            raise PermanentError(
                f"no storage plugin serves '{protocol}://' paths; install it: pip install '{dist}'"
            )
        raise PermanentError(f"no storage plugin serves '{protocol}://' paths ({url})")

    def resolve(
        self, url: str, connection: str | None = None
    ) -> tuple[fsspec.AbstractFileSystem, str]:
        """(filesystem, path within it) for `url`, using the named `connection` if given."""
        protocol, path = split_protocol(url)
        key = (protocol, connection)
        fs = self._cache.get(key)
        if fs is None:
            storage = self.storage_for(url)
            fs = storage.filesystem(protocol, self.connection_config(storage, connection))
            self._cache[key] = fs
        return fs, path

    def connection_config(
        self, storage: type[Storage], name: str | None
    ) -> ConnectionConfig | None:
        """The validated settings of connection `name` for `storage` (None when unnamed)."""
        if name is None:
            return None
        if name not in self.connections:
            raise PermanentError(f"connection '{name}' is not defined under connections:")
        return storage.connection_model.model_validate(self.connections[name])

    def is_atomic_rename(self, url: str) -> bool:
        """Whether moving a file at `url` is atomic (decides how commits publish files)."""
        return self.storage_for(url).atomic_rename
