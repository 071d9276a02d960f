"""Which files a path names: a file, a folder read recursively, or a glob.

One rule for every file home and for the committer: names starting with `_` or `.` are
hidden (hygge keeps its staging and state there, and so do Spark and Hive), and a glob's
files are named relative to the folder the glob starts from.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from hygge_core.errors import PermanentError

GLOB_CHARS = "*?["


def is_hidden(name: str) -> bool:
    """Whether readers skip this path element (hygge's own folders and dotfiles)."""
    return name.startswith(("_", "."))


def is_glob(path: str) -> bool:
    """Whether `path` holds a glob pattern (`*`, `?` or `[`)."""
    return any(ch in path for ch in GLOB_CHARS)


def glob_base(path: str) -> str:
    """The folder a glob starts from (`data/2024-*/x.csv` → `data`); `path` itself when it
    is no glob."""
    if is_glob(path):
        return re.split(r"[*?\[]", path, maxsplit=1)[0].rsplit("/", 1)[0]
    return path


def visible(paths: list[str], base: str) -> list[str]:
    """`paths` without those with a hidden element below `base`, sorted."""
    return sorted(
        p
        for p in paths
        if not any(is_hidden(part) for part in posixpath.relpath(p, base).split("/"))
    )


def list_files(fs: Any, root: str, shown: str) -> list[str]:
    """Every visible file that `root` (a file, a folder or a glob, as `fs` names it) names,
    in a stable order. `shown` is the path as the user wrote it, for the error when nothing
    is there."""
    base = glob_base(root)
    if base != root:
        found = [p for p in fs.glob(root) if not fs.isdir(p)]
    elif fs.isdir(root):
        found = fs.find(root)
    elif fs.exists(root):
        return [root]
    else:
        raise PermanentError(f"no such file or directory: {shown}")
    return visible(found, base)
