"""The public API for file homes and stores (docs/plugins/api.md).

A plugin that reads or writes files builds on these and nothing else of hygge-core's
internals: `FileHome` and `FileStore` resolve paths through the installed storages, list
files with the one hidden-file rule and wire in the commit protocol (`FileCommitter`);
`PartitionedWriter` writes a unit's rows as Parquet files per partition, with statistics;
`read_buffer` fits a Parquet reader's column buffers into a unit's reader share;
`hygge_core.hive` names and reads back hive partition folders (`col=value/`);
`InPlaceRuns` keeps the run markers of stores whose files a table format's log publishes.
Names load on first use, so a CSV plugin does not pay for the Parquet writer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hygge_core.lazy import lazy_exports

if TYPE_CHECKING:
    from hygge_core.arrowfs import arrow_filesystem
    from hygge_core.filecommit import FileCommitter
    from hygge_core.filehome import FileHome, FileHomeConfig
    from hygge_core.filelist import GLOB_CHARS, glob_base, is_glob, is_hidden, list_files
    from hygge_core.filestore import FileStore, FileStoreConfig
    from hygge_core.hive import HivePartitions, HiveStoreConfig
    from hygge_core.inplace import InPlaceRuns
    from hygge_core.parquetread import MIN_COLUMN_BUFFER, leaf_columns, read_buffer, short_round
    from hygge_core.partfiles import FileStats, PartitionedWriter, WrittenFile, conform

__getattr__ = lazy_exports(
    __name__,
    {
        "arrow_filesystem": "hygge_core.arrowfs",
        "FileCommitter": "hygge_core.filecommit",
        "FileHome": "hygge_core.filehome",
        "FileHomeConfig": "hygge_core.filehome",
        "GLOB_CHARS": "hygge_core.filelist",
        "glob_base": "hygge_core.filelist",
        "is_glob": "hygge_core.filelist",
        "is_hidden": "hygge_core.filelist",
        "list_files": "hygge_core.filelist",
        "FileStore": "hygge_core.filestore",
        "FileStoreConfig": "hygge_core.filestore",
        "InPlaceRuns": "hygge_core.inplace",
        "HivePartitions": "hygge_core.hive",
        "HiveStoreConfig": "hygge_core.hive",
        "FileStats": "hygge_core.partfiles",
        "PartitionedWriter": "hygge_core.partfiles",
        "WrittenFile": "hygge_core.partfiles",
        "conform": "hygge_core.partfiles",
        "MIN_COLUMN_BUFFER": "hygge_core.parquetread",
        "leaf_columns": "hygge_core.parquetread",
        "read_buffer": "hygge_core.parquetread",
        "short_round": "hygge_core.parquetread",
    },
)

__all__ = [
    "GLOB_CHARS",
    "MIN_COLUMN_BUFFER",
    "FileCommitter",
    "FileHome",
    "FileHomeConfig",
    "FileStats",
    "FileStore",
    "FileStoreConfig",
    "HivePartitions",
    "HiveStoreConfig",
    "InPlaceRuns",
    "PartitionedWriter",
    "WrittenFile",
    "arrow_filesystem",
    "conform",
    "glob_base",
    "is_glob",
    "is_hidden",
    "leaf_columns",
    "list_files",
    "read_buffer",
    "short_round",
]
