"""Finding and opening text files on any path hygge's storages serve.

Compression follows the file name (`.gz`, `.bz2`, `.zst`, `.lz4`) unless the config names a
codec; Arrow decompresses and compresses in native code on every filesystem.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.fs as pafs

from hygge_core import PermanentError

GLOB_CHARS = "*?["
CODEC_SUFFIXES = {"gzip": ".gz", "bz2": ".bz2", "zstd": ".zst", "lz4": ".lz4"}


def is_hidden(name: str) -> bool:
    """Readers skip `_`- and `.`-prefixed names: hygge's staging and state live there."""
    return name.startswith(("_", "."))


def base_of(root: str) -> str:
    """The folder a glob starts from; `root` itself when it is no glob."""
    if any(ch in root for ch in GLOB_CHARS):
        return re.split(r"[*?\[]", root, maxsplit=1)[0].rsplit("/", 1)[0]
    return root


def list_files(fs: fsspec.AbstractFileSystem, root: str, shown: str) -> list[str]:
    """Every data file that `root` (a file, a directory or a glob) names, in a stable order."""
    base = base_of(root)
    if base != root:
        found = sorted(p for p in fs.glob(root) if not fs.isdir(p))
    elif fs.isdir(root):
        found = sorted(fs.find(root))
    elif fs.exists(root):
        return [root]
    else:
        raise PermanentError(f"no such file or directory: {shown}")
    return [
        p
        for p in found
        if not any(is_hidden(part) for part in posixpath.relpath(p, base).split("/"))
    ]


def codec_for(path: str, compression: str) -> str | None:
    """The Arrow codec to read or write `path` with: named, or inferred from the suffix."""
    if compression == "none":
        return None
    if compression != "infer":
        return compression
    for codec, suffix in CODEC_SUFFIXES.items():
        if path.lower().endswith(suffix):
            return codec
    return None


def open_input(afs: pafs.FileSystem, path: str, compression: str, encoding: str) -> Any:
    """A decompressed, UTF-8 input stream of `path`."""
    try:
        stream = afs.open_input_stream(path, compression=codec_for(path, compression))
    except FileNotFoundError:
        raise PermanentError(f"file disappeared while reading: {path}") from None
    if encoding.lower().replace("-", "") not in ("utf8", "ascii"):
        stream = pa.transcoding_input_stream(stream, encoding, "utf-8")
    return stream
