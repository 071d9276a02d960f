"""Where file paths live: local disk by default, object stores through storage plugins.

A file-based Home or Store never builds a filesystem itself; it asks its `FlowContext`, which
finds the `Storage` registered for the path's protocol and hands it the named connection, if
any. That is how one storage plugin (hygge-cloud) gives every file plugin `s3://`, `az://` and
`gs://` paths without code of their own.
"""

from __future__ import annotations

import os
import typing
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from hygge_core.errors import HyggeError, PermanentError
from hygge_core.known import for_protocol
from hygge_core.paths import RelativePaths

if TYPE_CHECKING:
    # fsspec (~0.07 CPU s to import, with asyncio and its own entry-point scan) loads with
    # the first remote filesystem a flow opens, or the first call on a local one that
    # `LocalFiles` leaves to fsspec: `hygge validate`, `plugins` and local runs never pay.
    import fsspec


class ConnectionConfig(RelativePaths, BaseModel):
    """Settings of a named connection under `connections:`; storages subclass it."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    type: str
    _name: str | None = PrivateAttr(default=None)

    @property
    def connection_name(self) -> str | None:
        """The name it has under `connections:` (None when built from a URL alone)."""
        return self._name


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
    def split_url(cls, protocol: str, rest: str) -> tuple[str, dict[str, Any]]:
        """Split what follows `protocol://` into the path inside the filesystem and any
        connection settings the URL itself carries.

        The default keeps `rest` as the path and carries nothing. Azure's
        `abfss://container@account.dfs.core.windows.net/dir` is the case this exists for:
        its path is `container/dir` and it names the account.
        """
        return rest, {}

    @classmethod
    def check(
        cls, url: str, connection: ConnectionConfig | None, *, write: bool = False
    ) -> str | None:
        """Try the connection once; return None when usable, else a one-line reason.

        `write=True` when the URL is a store's target: also prove that writing there is
        allowed (storages that can do so cheaply write and delete a small probe).
        """
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
        from hygge_core.localfs import LocalFiles

        # fsspec's interface without fsspec's import cost; fsspec's own local filesystem
        # serves whatever LocalFiles does not (hygge_core/localfs.py).
        return typing.cast("fsspec.AbstractFileSystem", LocalFiles())


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
        self._cache: dict[tuple[str, str | None, tuple[tuple[str, Any], ...]], Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"storages": self.storages, "connections": self.connections, "_cache": {}}

    def storage_for(self, url: str) -> type[Storage]:
        """The storage class serving `url`'s protocol; a clear error naming the extra if none."""
        protocol, _ = split_protocol(url)
        storage = self.storages.get(protocol)
        if storage is not None:
            return storage
        known = for_protocol(protocol)
        if known:
            raise PermanentError(
                f"no storage plugin serves '{protocol}://' paths; install it: {known.hint}"
            )
        raise PermanentError(f"no storage plugin serves '{protocol}://' paths ({url})")

    def resolve(
        self, url: str, connection: str | None = None
    ) -> tuple[fsspec.AbstractFileSystem, str]:
        """(filesystem, path within it) for `url`, using the named `connection` if given."""
        protocol, rest = split_protocol(url)
        storage = self.storage_for(url)
        path, from_url = storage.split_url(protocol, rest)
        key = (protocol, connection, tuple(sorted(from_url.items())))
        fs = self._cache.get(key)
        if fs is None:
            config = self.connection_config(storage, connection, from_url)
            try:
                fs = storage.filesystem(protocol, config)
            except HyggeError as exc:
                # Storages cannot know the URL they are opened for; the user needs it.
                raise PermanentError(f"{_shown(url)}: {exc}") from None
            self._cache[key] = fs
        return fs, path

    def connection_config(
        self,
        storage: type[Storage],
        name: str | None,
        from_url: dict[str, Any] | None = None,
    ) -> ConnectionConfig | None:
        """The validated settings of connection `name` for `storage`, completed by the
        settings the URL carries (`from_url`); None when neither gives any.

        Errors name the connection and the field, never a value: values may be secrets.
        """
        from_url = from_url or {}
        if name is None and not from_url:
            return None
        raw: dict[str, Any] = {"type": storage.name}
        if name is not None:
            if name not in self.connections:
                known = ", ".join(sorted(self.connections)) or "none defined"
                raise PermanentError(
                    f"connection '{name}' is not defined under connections: ({known})"
                )
            raw = dict(self.connections[name])
        for key, value in from_url.items():
            if raw.get(key) not in (None, value):
                raise PermanentError(
                    f"the URL sets {key} '{value}' but connection '{name}' sets another; "
                    "remove one of them"
                )
            raw[key] = value
        try:
            config = storage.connection_model.model_validate(raw)
        except ValidationError as exc:
            raise PermanentError(_connection_problem(storage, name, raw, exc)) from None
        config._name = name
        return config

    def check(self, url: str, connection: str | None = None, *, write: bool = False) -> str | None:
        """Try `url` once through its storage: None when usable, else one line naming it.

        What `Home.check()` / `Store.check()` of a file plugin can return as is
        (`write=True` for a store), so `hygge validate --connect` covers every file path.
        """
        try:
            storage = self.storage_for(url)
            protocol, rest = split_protocol(url)
            _, from_url = storage.split_url(protocol, rest)
            config = self.connection_config(storage, connection, from_url)
            return storage.check(url, config, write=write)
        except HyggeError as exc:
            return str(exc)

    def is_atomic_rename(self, url: str) -> bool:
        """Whether moving a file at `url` is atomic (decides how commits publish files)."""
        return self.storage_for(url).atomic_rename


def _shown(url: str) -> str:
    """`url` as it may appear in a message: without a query string (SAS tokens live there)."""
    return url.split("?", 1)[0]


def _connection_problem(
    storage: type[Storage], name: str | None, raw: dict[str, Any], exc: ValidationError
) -> str:
    """One line for an invalid connection: which one, which fields, never their values."""
    where = f"connection '{name}'" if name else f"the settings in the {storage.name} URL"
    problems = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "?"
        if field == "type":
            wanted = typing.get_args(storage.connection_model.model_fields["type"].annotation)
            wanted_text = " or ".join(f"'{w}'" for w in wanted) or f"'{storage.name}'"
            problems.append(
                f"its type is '{raw.get('type')}' but {', '.join(storage.protocols)}:// "
                f"paths need a connection of type {wanted_text}"
            )
        elif err["type"] == "extra_forbidden":
            fields = ", ".join(f for f in storage.connection_model.model_fields if f != "type")
            problems.append(f"unknown field '{field}' (valid: {fields})")
        else:
            problems.append(f"field '{field}': {err['msg']}")
    return f"{where}: " + "; ".join(problems)
