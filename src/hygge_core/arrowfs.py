"""pyarrow filesystems for fsspec ones, so file plugins get Arrow's native I/O where it exists."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow.fs as pafs

if TYPE_CHECKING:
    import fsspec  # the type only: fsspec loads with the first filesystem opened


def arrow_filesystem(fs: fsspec.AbstractFileSystem) -> pafs.FileSystem:
    """Arrow's own local filesystem for local paths (no Python in the I/O loop); an fsspec
    wrapper for everything else."""
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    if "file" in protocols or "local" in protocols:
        return pafs.LocalFileSystem()
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs))
