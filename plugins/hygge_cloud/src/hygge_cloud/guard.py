"""Turn an fsspec object-store filesystem into one that speaks hygge's error language.

`guarded(ProviderFS, Rules)` returns a subclass whose coroutines (and the sync methods and
file objects built on them) raise `hygge_cloud.errors` types with the URL in the message,
and which never creates a bucket. The provider's own code is untouched: only the outermost
call is translated, so the provider still sees its own exceptions inside (`_exists`
catching its `FileNotFoundError`, adlfs catching `ResourceNotFoundError`, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

import fsspec
from fsspec.asyn import sync, sync_wrapper

from hygge_cloud.errors import LINE_LIMIT, Fault, to_error
from hygge_core import HyggeError, first_line

# How deep the current task is inside guarded coroutines: only depth 0 translates. fsspec
# runs every sync call as a fresh task on its IO loop, which starts again at depth 0.
_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("hygge_cloud_depth", default=0)

# The coroutines through which hygge's file plugins, its commit protocol and pyarrow's
# fsspec handler reach a store.
GUARDED = (
    "_info",
    "_ls",
    "_find",
    "_glob",
    "_exists",
    "_isdir",
    "_isfile",
    "_cat_file",
    "_cat",
    "_cat_ranges",
    "_pipe_file",
    "_pipe",
    "_put_file",
    "_get_file",
    "_cp_file",
    "_copy",
    "_rm_file",
    "_rm",
    "_mkdir",
    "_makedirs",
    "_du",
    "_size",
    "_sizes",
    "_expand_path",
)
# "Is it there?" answers False for a path in a bucket that does not exist; hygge wants
# that said, not taken as an empty folder.
PROBES = frozenset({"_exists", "_isdir", "_isfile"})
# Calls that change the store: each forgets what listings told (see `_info`).
MUTATORS = frozenset(
    {"_pipe_file", "_pipe", "_put_file", "_cp_file", "_copy", "_rm_file", "_rm", "_mkdir"}
)
# How long a file seen in a listing may be opened without asking for its size again.
SEEN_TTL = 300.0
FILE_METHODS = ("read", "readinto", "readline", "write", "flush", "close")


class Rules:
    """What one provider's exceptions mean. Subclasses implement `classify`."""

    service: ClassVar[str] = "the object store"
    bucket_word: ClassVar[str] = "bucket"  # what the provider calls the top level

    @staticmethod
    def classify(exc: BaseException) -> Fault | None:
        """The fault `exc` stands for, or None to let it pass unchanged."""
        return None


def unresolvable(exc: BaseException) -> Fault | None:
    """A host name that does not resolve, however deep the client wrapped the resolver's
    `socket.gaierror` (azure-core: `inner_exception`; aiohttp: `os_error`)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            host = getattr(exc, "host", None) or _host_in(exc)
            where = f"'{host}': " if host else ""
            return Fault("unresolvable", f"{where}{current.strerror or current}")
        todo += [
            current.__cause__,
            current.__context__,
            getattr(current, "inner_exception", None),
            getattr(current, "os_error", None),
        ]
    return None


def _host_in(exc: BaseException) -> str | None:
    """The host an aiohttp connector error names, if any in the chain."""
    current: BaseException | None = exc
    while current is not None:
        key = getattr(current, "_conn_key", None)
        if key is not None and getattr(key, "host", None):
            return str(key.host)
        current = getattr(current, "inner_exception", None) or current.__cause__
    return None


def _generic(exc: BaseException) -> Fault | None:
    """Faults every provider shares: the network and its timeouts."""
    if isinstance(exc, ConnectionError | TimeoutError | asyncio.TimeoutError):
        return Fault(
            "transient", f"{type(exc).__name__}: {first_line(str(exc), LINE_LIMIT)}".rstrip(": ")
        )
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - every supported provider ships aiohttp
        return None
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        return Fault(
            "transient", f"{type(exc).__name__}: {first_line(str(exc), LINE_LIMIT)}".rstrip(": ")
        )
    return None


class GuardedFileSystem:
    """Mixin placed before the provider's filesystem class by `guarded`.

    Instances take two extra keywords for error messages: `hygge_label` says where the
    credentials came from ("connection 'lake'"), `hygge_scheme` is the URL scheme the user
    wrote (`az` or `abfss`). Both are part of fsspec's instance-cache key, so they never
    leak from one connection to another.
    """

    rules: ClassVar[type[Rules]] = Rules
    scheme: ClassVar[str] = "s3"

    def __init__(
        self,
        *args: Any,
        hygge_label: str = "the default credentials",
        hygge_scheme: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.hygge_label = hygge_label
        self.hygge_scheme = hygge_scheme or self.scheme
        self._buckets_seen: set[str] = set()
        self._files_seen: dict[str, tuple[float, dict[str, Any]]] = {}

    # -- naming --------------------------------------------------------------------------
    def hygge_url(self, path: Any) -> str:
        """`scheme://bucket/key` for a path (or the first of a list of paths).

        Inside a store, hygge's own folders (`_hygge_staging/...`, `_hygge/...`) are cut
        off: the user wrote the store's URL and recognises that, not a staged part file.
        """
        if isinstance(path, list | tuple):
            path = path[0] if path else ""
        stripped = self._strip_protocol(str(path))  # type: ignore[attr-defined]
        return f"{self.hygge_scheme}://{stripped.split('/_hygge', 1)[0]}"

    def hygge_bucket(self, path: Any) -> str:
        """The bucket (container) part of a path."""
        if isinstance(path, list | tuple):
            path = path[0] if path else ""
        return self._strip_protocol(str(path)).split("/", 1)[0]  # type: ignore[attr-defined]

    # -- buckets -------------------------------------------------------------------------
    async def _hygge_bucket_exists(self, bucket: str) -> bool | None:
        """True / False when the provider says so, None when it cannot tell (no right to
        ask). Providers override; the answer True is cached for the instance's life."""
        return None

    async def _hygge_bucket_missing(self, path: Any) -> bool:
        bucket = self.hygge_bucket(path)
        if not bucket or bucket in self._buckets_seen:
            return False
        try:
            exists = await self._hygge_bucket_exists(bucket)
        except Exception:  # the check is a courtesy: its own failure proves nothing
            return False
        if exists:
            self._buckets_seen.add(bucket)
        return exists is False

    def _hygge_missing_bucket(self, path: Any) -> Exception:
        bucket = self.hygge_bucket(path)
        fault = Fault("missing_bucket", f"{self.rules.bucket_word} '{bucket}' does not exist")
        return to_error(fault, self.hygge_url(path), self.hygge_label, self.rules.service)

    async def _mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Object stores have no folders to create, and hygge never creates a bucket: a
        mistyped bucket name must fail, not quietly start a new bucket."""
        if await self._hygge_bucket_missing(path):
            raise self._hygge_missing_bucket(path)

    async def _makedirs(self, path: str, exist_ok: bool = False) -> None:
        await self._mkdir(path)

    # -- what listings told ---------------------------------------------------------------
    async def _find(self, path: str, *args: Any, detail: bool = False, **kwargs: Any) -> Any:
        """The provider's listing, remembering each file's details for `_info`."""
        if args:  # positional options: pass through untouched
            return await super()._find(path, *args, detail=detail, **kwargs)  # type: ignore[misc]
        found = await super()._find(path, detail=True, **kwargs)  # type: ignore[misc]
        now = time.monotonic()
        for name, info in found.items():
            if info.get("type") == "file":
                self._files_seen[name] = (now, info)
        return found if detail else sorted(found)

    async def _info(self, path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """A file's details: from a recent listing when there is one, else the store.

        Opening a file for reading asks for its size (a HEAD request); pyarrow's fsspec
        handler asks twice. For a prefix of thousands of small files that tripled the
        requests of a read. Only positive facts from this filesystem's own listings are
        reused, for `SEEN_TTL` seconds, and any change made through it forgets them all;
        reads still send the ETag, so an object replaced meanwhile fails loudly.
        """
        seen = self._files_seen.get(self._strip_protocol(path))  # type: ignore[attr-defined]
        if seen is not None and not (args or kwargs) and time.monotonic() - seen[0] < SEEN_TTL:
            return dict(seen[1])
        return await super()._info(path, *args, **kwargs)  # type: ignore[misc]

    # -- translation ---------------------------------------------------------------------
    def hygge_translate(self, exc: BaseException, path: Any) -> Exception | None:
        """The hygge error for `exc` raised while working on `path`, or None to keep it."""
        if isinstance(exc, HyggeError):
            return None
        fault = unresolvable(exc) or self.rules.classify(exc)
        if fault is None and exc.__cause__ is not None:
            fault = self.rules.classify(exc.__cause__)
        if fault is None:
            fault = _generic(exc)
        if fault is None:
            return None
        if fault.kind == "missing_bucket":
            return self._hygge_missing_bucket(path)
        return to_error(fault, self.hygge_url(path), self.hygge_label, self.rules.service)

    def _open(self, path: str, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        if "r" not in mode:
            self._files_seen.clear()
        try:
            f = super()._open(path, mode, *args, **kwargs)  # type: ignore[misc]
        except Exception as exc:
            error = self.hygge_translate(exc, path)
            if error is None:
                raise
            raise error from exc
        f.__class__ = _guarded_file_class(f.__class__)
        return f


def _guard(name: str, method: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def guarded_call(self: GuardedFileSystem, *args: Any, **kwargs: Any) -> Any:
        depth = _DEPTH.get()
        token = _DEPTH.set(depth + 1)
        path = _path_of(name, args, kwargs)
        if name in MUTATORS:
            self._files_seen.clear()
        try:
            result = await method(self, *args, **kwargs)
        except Exception as exc:
            if depth:
                raise
            error = self.hygge_translate(exc, path)
            if (
                error is None
                and isinstance(exc, FileNotFoundError)
                and await self._hygge_bucket_missing(path)
            ):
                error = self._hygge_missing_bucket(path)
            if error is None:
                raise
            raise error from exc
        finally:
            _DEPTH.reset(token)
        if (
            result is False
            and name in PROBES
            and not depth
            and await self._hygge_bucket_missing(path)
        ):
            raise self._hygge_missing_bucket(path)
        return result

    return guarded_call


def _path_of(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The path a call is about: a copy or an upload is about its destination."""
    if name in ("_cp_file", "_copy", "_put_file"):
        return args[1] if len(args) > 1 else kwargs.get("path2", kwargs.get("rpath", ""))
    return args[0] if args else kwargs.get("path", kwargs.get("path1", kwargs.get("rpath", "")))


def guarded(
    base: type[fsspec.AbstractFileSystem],
    rules: type[Rules],
    scheme: str,
    provider: type | None = None,
    *,
    module: str = __name__,
) -> type:
    """A subclass of `base` with hygge's error translation and bucket policy.

    `provider` holds the provider's own overrides (its bucket check, a safer copy); they
    come first in the MRO and are guarded like the rest. The class is named
    `Hygge<base name>` in `module`, which must answer that name (a module `__getattr__`),
    so that instances pickle like the provider's own.
    """
    meta: Any = type(base)  # fsspec's caching metaclass
    bases = (provider, GuardedFileSystem, base) if provider else (GuardedFileSystem, base)
    mixed = meta(f"_Hygge{base.__name__}Base", bases, {"__module__": __name__})
    namespace: dict[str, Any] = {"rules": rules, "scheme": scheme, "__module__": module}
    for name in GUARDED:
        method = getattr(mixed, name, None)
        if method is None or not inspect.iscoroutinefunction(method):
            continue
        wrapped = _guard(name, method)
        namespace[name] = wrapped
        # Providers that bind a sync method to their own coroutine at class level
        # (`mkdir = sync_wrapper(_mkdir)`) would bypass the guard: rebind it.
        sync_name = name[1:]
        provider_sync = getattr(base, sync_name, None)
        provider_coro = getattr(base, name, None)
        if provider_sync is not None and getattr(provider_sync, "__wrapped__", None) in (
            provider_coro,
            method,
        ):
            namespace[sync_name] = sync_wrapper(wrapped)
    return meta(f"Hygge{base.__name__}", (mixed,), namespace)


@functools.cache
def _guarded_file_class(base: type) -> type:
    """The provider's file class, with errors of reads, writes and closes translated."""
    namespace: dict[str, Any] = {"__module__": __name__}
    for name in FILE_METHODS:
        method = getattr(base, name, None)
        if method is not None:
            namespace[name] = _guard_file_method(name, method)
    return type(f"Hygge{base.__name__}", (base,), namespace)


def _guard_file_method(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def guarded_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            fs: GuardedFileSystem = self.fs
            if name in ("close", "flush") and "r" not in self.mode:
                _discard(self)
            error = fs.hygge_translate(exc, self.path)
            if (
                error is None
                and isinstance(exc, FileNotFoundError)
                and sync(fs.loop, fs._hygge_bucket_missing, self.path)  # type: ignore[attr-defined]
            ):
                error = fs._hygge_missing_bucket(self.path)
            if error is None:
                raise
            raise error from exc

    return guarded_call


def _discard(f: Any) -> None:
    """After a failed upload: abort what the provider started (an S3 multipart upload, a
    GCS resumable session) and mark the file closed, so that garbage collection does not
    try the upload again and print a second error."""
    with contextlib.suppress(Exception):  # the upload already failed: that is the error
        f.discard()
    f.closed = True
