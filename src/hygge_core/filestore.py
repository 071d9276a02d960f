"""The base of stores that write files: where they live, and the commit protocol wired in.

A file store (Parquet, CSV, a third party's Avro) only has to write its files: this base
finds the filesystem of `path`, gives it a `FileCommitter` (commit record, staging folder,
lock, state, resumable units) and forwards the store protocol to it, so every file store
is exactly-once in the same way.
"""

from __future__ import annotations

import contextlib
from functools import cached_property
from typing import Any, ClassVar

from pydantic import Field

from hygge_core.arrowfs import arrow_filesystem
from hygge_core.context import FlowContext
from hygge_core.errors import PermanentError
from hygge_core.filecommit import FileCommitter
from hygge_core.health import Finding, free_space
from hygge_core.state import FlowState, RunRecord
from hygge_core.store import StagedUnit, Store, StoreConfig


class FileStoreConfig(StoreConfig):
    """Options every file store takes: where the files go, and the connection to use."""

    path: str = Field(description="where the files go: a local path or a storage URL")
    connection: str | None = Field(default=None, description="a named storage connection")


class FileStore(Store):
    """A store whose data is files under one folder, committed by `FileCommitter`.

    Subclasses write their files in `stage` (under `self.committer.staging_dir(run_id)`) and
    hand the moves to `self.committer.commit` in `commit`; this base does the rest of the
    protocol. `root` is the folder that holds the data, `_hygge_staging/` and `_hygge/`;
    a store that writes a single file overrides it with that file's folder.
    """

    config_model: ClassVar[type[StoreConfig]] = FileStoreConfig
    transient = ("fs", "afs", "committer")
    supports_resume = True
    fault_points = ("commit.record", "commit.move", "commit.state")  # FileCommitter's steps

    def __init__(self, config: FileStoreConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: FileStoreConfig = config

    @cached_property
    def fs(self) -> Any:
        """The fsspec filesystem of `path` (opened lazily: stores travel pickled)."""
        return self.context.filesystem(self.config.path, self.config.connection)[0]

    @cached_property
    def target(self) -> str:
        """`path` as the filesystem names it (no protocol, no trailing slash)."""
        return self.context.filesystem(self.config.path, self.config.connection)[1].rstrip("/")

    @cached_property
    def root(self) -> str:
        """The folder that holds the data, `_hygge_staging/` and `_hygge/`."""
        return self.target

    @cached_property
    def afs(self) -> Any:
        """The same filesystem for Arrow's readers and writers."""
        return arrow_filesystem(self.fs)

    @cached_property
    def committer(self) -> FileCommitter:
        """The commit protocol over `root`."""
        atomic = self.context.storage.is_atomic_rename(self.config.path)
        return FileCommitter(self.fs, self.root, self.context.flow, atomic_rename=atomic)

    def check(self) -> str | None:
        return self.context.storage.check(self.config.path, self.config.connection, write=True)

    def lock(self) -> contextlib.AbstractContextManager[None]:
        # Locking is the first write: say plainly when the folder to write is a file (on
        # a local disk; an object store may hold an object and a prefix of one name).
        if "file" in _protocols(self.fs) and self.fs.isfile(self.root):
            raise PermanentError(
                f"store path {self.config.path} is a file, but this store writes a folder "
                f"of files there: give a folder path that is not a file (e.g. {self.root}_out/)"
            )
        return self.committer.lock()

    def recover(self) -> list[str]:
        return self.committer.recover(current_run=self.context.run_id)

    def remember(self, fingerprint: str, record: dict[str, Any]) -> None:
        self.committer.remember(self.context.run_id, fingerprint, record)

    def resumable(self) -> dict[str, dict[str, Any]]:
        return self.committer.resumable(self.context.run_id)

    def read_state(self) -> FlowState | None:
        return self.committer.read_state()

    def reset_state(self) -> bool:
        return self.committer.reset_state()

    def abort(self, staged: list[StagedUnit]) -> None:
        self.committer.abort(self.context.run_id)

    def record_failure(self, record: RunRecord) -> bool:
        return self.committer.record_failure(record)

    def health(self) -> list[Finding]:
        found = self.committer.health()
        if "file" in _protocols(self.fs):
            space = free_space(self.root)
            if space is not None:
                found.append(space)
        return found


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
