"""Relative paths in flows.yaml are relative to the file's own folder, not to the working
directory: `hygge run conf/flows.yaml` reads `home: data/x.csv` from `conf/data/x.csv`,
wherever it is started from."""

from __future__ import annotations

import os
from typing import Any, ClassVar


def folder_of(file: str) -> str:
    """The folder relative paths of `file` are resolved against: "" when it is the working
    directory (paths then read the same, and stay as written in messages)."""
    folder = os.path.dirname(file)
    if not folder or os.path.abspath(folder) == os.getcwd():
        return ""
    return folder


def rebase_path(value: Any, folder: str) -> Any:
    """`value` joined to `folder` when it is a relative local path; anything else (a URL,
    an absolute path, `~/...`, a non-string) unchanged."""
    if not isinstance(value, str) or not value or "://" in value:
        return value
    if os.path.isabs(value) or value.startswith("~"):
        return value
    joined = os.path.normpath(os.path.join(folder, value))
    return joined + "/" if value.endswith("/") else joined  # a folder stays a folder


def rebase_fields(raw: dict[str, Any], fields: tuple[str, ...], folder: str) -> dict[str, Any]:
    """`raw` with each of `fields` rebased (what `relative_to` of a config model does)."""
    if not folder:
        return raw  # the file is in the working directory: paths read the same
    out = dict(raw)
    for name in fields:
        if name in out:
            out[name] = rebase_path(out[name], folder)
    return out


class RelativePaths:
    """Mixed into the config models of homes, stores and connections: which of a type's
    fields hold local paths, and how its settings as written are resolved against the
    flows.yaml's folder before validation."""

    # Fields that hold local paths; relative ones are resolved against the file's folder.
    path_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def relative_to(cls, raw: dict[str, Any], folder: str) -> dict[str, Any]:
        """`raw` (this type's settings as written) with its relative paths resolved against
        `folder`, the flows.yaml's own folder. The default rebases `path_fields`; a type
        whose paths hide elsewhere (a SQLite URL) overrides this."""
        return rebase_fields(raw, cls.path_fields, folder)
