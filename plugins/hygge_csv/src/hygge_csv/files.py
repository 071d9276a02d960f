"""Opening text files on any path hygge's storages serve (`FileHome` finds them).

Compression follows the file name (`.gz`, `.bz2`, `.zst`, `.lz4`) unless the config names a
codec; Arrow decompresses and compresses in native code on every filesystem.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from hygge_core import PermanentError

CODEC_SUFFIXES = {"gzip": ".gz", "bz2": ".bz2", "zstd": ".zst", "lz4": ".lz4"}


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
