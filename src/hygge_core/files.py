"""The public API for file homes and stores (docs/plugins/api.md).

A plugin that reads or writes files builds on these and nothing else of hygge-core's
internals: `FileHome` and `FileStore` resolve paths through the installed storages, list
files with the one hidden-file rule and wire in the commit protocol (`FileCommitter`).
"""

from __future__ import annotations

from hygge_core.arrowfs import arrow_filesystem
from hygge_core.filecommit import FileCommitter
from hygge_core.filehome import FileHome, FileHomeConfig
from hygge_core.filelist import GLOB_CHARS, glob_base, is_glob, is_hidden, list_files
from hygge_core.filestore import FileStore, FileStoreConfig

__all__ = [
    "GLOB_CHARS",
    "FileCommitter",
    "FileHome",
    "FileHomeConfig",
    "FileStore",
    "FileStoreConfig",
    "arrow_filesystem",
    "glob_base",
    "is_glob",
    "is_hidden",
    "list_files",
]
