"""The base of homes that read files: where they are, and which of them to read.

A file home (Parquet, CSV, a third party's Avro) only has to plan and read its files: this
base resolves `path` through the installed storages, lists the files it names (a file, a
folder read recursively, or a glob) with the one hidden-file rule, and checks that they
are there, so every file home finds the same files the same way.
"""

from __future__ import annotations

import posixpath
from functools import cached_property
from typing import Any, ClassVar

from pydantic import Field

from hygge_core.arrowfs import arrow_filesystem
from hygge_core.context import FlowContext
from hygge_core.errors import PermanentError
from hygge_core.filelist import glob_base, is_glob, list_files
from hygge_core.home import Home, HomeConfig


class FileHomeConfig(HomeConfig):
    """Options every file home takes: which files to read, and the connection to use."""

    path: str = Field(description="a file, a directory (read recursively) or a glob")
    connection: str | None = Field(default=None, description="a named storage connection")


class FileHome(Home):
    """A home whose data is the files one path names, read on any storage hygge serves.

    Subclasses set `format` (the word in descriptions and errors: "no csv files under
    ...") and implement `schema`, `plan` and `read` over `self.files`; `unit_name(path)`
    gives a file's name relative to the path, for work unit ids.
    """

    config_model: ClassVar[type[HomeConfig]] = FileHomeConfig
    transient: ClassVar[tuple[str, ...]] = ("fs", "afs", "files")
    format: ClassVar[str] = "data"

    def __init__(self, config: FileHomeConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: FileHomeConfig = config

    @cached_property
    def fs(self) -> Any:
        """The fsspec filesystem of `path` (opened lazily: homes travel pickled)."""
        return self.context.filesystem(self.config.path, self.config.connection)[0]

    @cached_property
    def root(self) -> str:
        """`path` as the filesystem names it (no protocol)."""
        return self.context.filesystem(self.config.path, self.config.connection)[1]

    @cached_property
    def afs(self) -> Any:
        """The same filesystem for Arrow's readers."""
        return arrow_filesystem(self.fs)

    @cached_property
    def files(self) -> list[str]:
        """The files to read in a stable order, hidden ones (`_hygge_staging`, dotfiles)
        left out; an error when there are none."""
        files = list_files(self.fs, self.root, self.config.path)
        if not files:
            raise PermanentError(f"no {self.format} files under {self.config.path}")
        return files

    def unit_name(self, path: str) -> str:
        """`path` relative to the folder the home reads (the file's name for one file)."""
        base = glob_base(self.root)
        return posixpath.relpath(path, base) if path != base else posixpath.basename(path)

    def describe(self) -> str:
        return f"{self.format} {self.config.path}"

    def check(self) -> str | None:
        problem = self.context.storage.check(self.config.path, self.config.connection)
        if problem is None and not is_glob(self.config.path) and not self.fs.exists(self.root):
            return f"no such file or directory: {self.config.path}"
        return problem
