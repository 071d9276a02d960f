"""Local disk with fsspec's filesystem interface, without importing fsspec.

Importing fsspec costs a run about 25 ms of CPU (asyncio, and a scan of every installed
distribution's entry points) — a tenth of hygge's whole start-up — and a local flow does
not need it: every call hygge itself makes on a local path (the commit protocol, file
listing, state files) is a plain `os` call. `LocalFiles` serves those calls with `os` and
hands every other attribute to fsspec's own `LocalFileSystem`, loaded the first time one is
asked for, so a plugin may still use any part of fsspec's interface on a local path.

The native methods return what fsspec's `LocalFileSystem(auto_mkdir=True)` returns for
the same call (`tests/test_localfs.py` compares them on one tree); a call with options they
do not implement is handed to fsspec too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import os
import shutil
import stat
from typing import Any

_PREFIXES = ("file://", "local://", "file:", "local:")
_MAGIC = frozenset("*?[")
_TEXT_KWARGS = frozenset({"encoding", "errors", "newline"})


def _strip(path: Any) -> str:
    """The absolute path fsspec's local filesystem names `path` by."""
    path = os.fspath(path)
    for prefix in _PREFIXES:
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    if path.startswith("/"):
        return path.rstrip("/") or "/"
    return os.path.abspath(os.path.expanduser(path))


def _with_parent(path: Any) -> str:
    """`_strip(path)`, its parent folder made first: what `auto_mkdir` does before a file is
    written, moved or copied there."""
    target = _strip(path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    return target


def _stat_info(path: str, out: os.stat_result, link: bool, kind: str, size: int) -> dict[str, Any]:
    """fsspec's `info()` dictionary for `path`."""
    info: dict[str, Any] = {
        "name": path,
        "size": size,
        "type": kind,
        "created": getattr(out, "st_birthtime", out.st_ctime),
        "islink": link,
        "mode": out.st_mode,
        "uid": out.st_uid,
        "gid": out.st_gid,
        "mtime": out.st_mtime,
        "ino": out.st_ino,
        "nlink": out.st_nlink,
    }
    if link:
        info["destination"] = os.readlink(path)
    return info


def _kind(mode: int) -> str:
    return "directory" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def _entry_info(entry: os.DirEntry[str]) -> dict[str, Any]:
    """`info()` of a listed entry, by fsspec's rule for listings: a link is typed by
    itself ("other", so listings never descend through it) and sized by its target."""
    out = entry.stat(follow_symlinks=False)
    link = entry.is_symlink()
    size = out.st_size
    if link:
        try:
            size = entry.stat().st_size
        except OSError:  # a broken link
            size = 0
    return _stat_info(_strip(entry.path), out, link, _kind(out.st_mode), size)


class LocalFiles:
    """The filesystem of local paths: fsspec's interface, served by `os` where hygge calls it.

    Behaves as `fsspec.implementations.local.LocalFileSystem(auto_mkdir=True)`: parent
    folders are made when a file is written or moved there. Methods not defined here (and
    defined ones called with options they do not take) go to that fsspec filesystem,
    imported on first use.
    """

    protocol = ("file", "local")
    root_marker = "/"
    sep = "/"
    local_file = True
    auto_mkdir = True

    def __init__(self) -> None:
        self._fsspec: Any = None

    def __getattr__(self, name: str) -> Any:
        # Only reached for names this class does not define. `_fsspec` and dunders are
        # looked up while unpickling, before `__init__`'s attributes exist.
        if name == "_fsspec" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.fsspec, name)

    def __reduce__(self) -> tuple[type[LocalFiles], tuple[()]]:
        return (LocalFiles, ())

    @property
    def fsspec(self) -> Any:
        """fsspec's own local filesystem, for everything not served here."""
        if self._fsspec is None:
            from fsspec.implementations.local import LocalFileSystem

            self._fsspec = LocalFileSystem(auto_mkdir=True)
        return self._fsspec

    # -- looking ---------------------------------------------------------------------------
    def info(self, path: Any, **kwargs: Any) -> dict[str, Any]:
        path = _strip(path)
        out = os.stat(path, follow_symlinks=False)
        link = stat.S_ISLNK(out.st_mode)
        if link:
            out = os.stat(path)
        return _stat_info(path, out, link, _kind(out.st_mode), out.st_size)

    def exists(self, path: Any, **kwargs: Any) -> bool:
        return os.path.exists(_strip(path))

    def isdir(self, path: Any) -> bool:
        return os.path.isdir(_strip(path))

    def isfile(self, path: Any) -> bool:
        return os.path.isfile(_strip(path))

    def modified(self, path: Any) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.info(path)["mtime"], tz=dt.UTC)

    def ls(self, path: Any, detail: bool = False, **kwargs: Any) -> list[Any]:
        path = _strip(path)
        info = self.info(path)
        if info["type"] != "directory":
            return [info if detail else path]
        out: list[Any] = []
        with os.scandir(path) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):  # removed while listed
                    out.append(_entry_info(entry) if detail else _strip(entry.path))
        return out

    def find(
        self,
        path: Any,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        if maxdepth is not None or detail or kwargs:
            return self.fsspec.find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail)
        path = _strip(path)
        if not os.path.isdir(path):
            return [path] if os.path.isfile(path) else []
        found = [path] if withdirs else []
        _walk(path, withdirs, found)
        return sorted(found)

    def glob(self, path: Any, maxdepth: int | None = None, **kwargs: Any) -> Any:
        pattern = _strip(path) if isinstance(path, str) else path
        folder, _, name = pattern.rpartition("/") if isinstance(pattern, str) else ("", "", "")
        simple = (
            isinstance(pattern, str)
            and maxdepth is None
            and not kwargs
            and not path.endswith("/")
            and "**" not in name
            and not _MAGIC.intersection(folder)
        )
        if not simple:
            return self.fsspec.glob(path, maxdepth=maxdepth, **kwargs)
        if not _MAGIC.intersection(name):
            return [pattern] if os.path.exists(pattern) else []
        try:
            names = os.listdir(folder or "/")
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(
            posix_join(folder, entry) for entry in names if fnmatch.fnmatchcase(entry, name)
        )

    # -- reading and writing -------------------------------------------------------------
    def open(self, path: Any, mode: str = "rb", **kwargs: Any) -> Any:
        if set(kwargs) - _TEXT_KWARGS:  # block sizes, compression, ...: fsspec's own
            return self.fsspec.open(path, mode, **kwargs)
        path = _with_parent(path) if any(c in mode for c in "wax") else _strip(path)
        return open(path, mode, **kwargs)

    def cat_file(
        self, path: Any, start: int | None = None, end: int | None = None, **kw: Any
    ) -> bytes:
        if start is not None or end is not None or kw:
            return self.fsspec.cat_file(path, start=start, end=end, **kw)
        with open(_strip(path), "rb") as f:
            return f.read()

    def pipe_file(self, path: Any, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        if kwargs:
            return self.fsspec.pipe_file(path, value, mode=mode, **kwargs)
        if mode == "create" and self.exists(path):
            raise FileExistsError(path)
        with self.open(path, "wb") as f:
            f.write(value)
        return None

    def makedirs(self, path: Any, exist_ok: bool = False) -> None:
        os.makedirs(_strip(path), exist_ok=exist_ok)

    def mkdirs(self, path: Any, exist_ok: bool = False) -> None:
        self.makedirs(path, exist_ok=exist_ok)

    # -- moving and removing ---------------------------------------------------------------
    def mv(self, path1: Any, path2: Any, recursive: bool = True, **kwargs: Any) -> None:
        if not isinstance(path1, str | os.PathLike) or kwargs:
            return self.fsspec.mv(path1, path2, recursive=recursive, **kwargs)
        source, target = _strip(path1), _with_parent(path2)
        shutil.move(source, target)
        return None

    def cp_file(self, path1: Any, path2: Any, **kwargs: Any) -> None:
        source, target = _strip(path1), _with_parent(path2)
        if os.path.isfile(source):
            shutil.copyfile(source, target)
        elif os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            raise FileNotFoundError(source)

    def rm_file(self, path: Any) -> None:
        os.remove(_strip(path))

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        if maxdepth is not None:
            return self.fsspec.rm(path, recursive=recursive, maxdepth=maxdepth)
        for one in path if isinstance(path, list) else [path]:
            one = _strip(one)
            if os.path.isdir(one) and not os.path.islink(one):
                if not recursive:
                    raise ValueError("Cannot delete directory, set recursive=True")
                shutil.rmtree(one)
            else:
                os.remove(one)
        return None

    def invalidate_cache(self, path: Any = None) -> None:
        """Nothing to forget: local listings are never cached."""


def _walk(folder: str, withdirs: bool, found: list[str]) -> None:
    """Every path below `folder`, by fsspec's listing rule: links are leaves, never folders."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):  # removed while walked
        return
    for entry in entries:
        path = _strip(entry.path)
        if entry.is_dir(follow_symlinks=False):
            if withdirs:
                found.append(path)
            _walk(path, withdirs, found)
        else:
            found.append(path)


def posix_join(folder: str, name: str) -> str:
    """`folder/name` as fsspec names local paths."""
    return f"{folder.rstrip('/')}/{name}"
