"""What identifies the content of a source file, so staged work is reused only for it.

A run killed after staging some units leaves them for the next run to adopt (see
`Store.resumable`). Adopting is right only if the source still holds what was read: a unit's
fingerprint covers its payload, so homes put `content_id(fs, path)` there. It is what the
filesystem says about the object's version, without reading it: size and modification time
(and inode) on a local disk, ETag, generation or version id on object stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import fsspec  # the type only: fsspec loads with the first filesystem opened


# Keys fsspec implementations report that change whenever an object's bytes change:
# local (size, mtime, ino), s3fs (ETag, VersionId, LastModified), gcsfs (generation,
# etag, updated), adlfs (etag, version_id, last_modified).
_KEYS = (
    "size",
    "mtime",
    "ino",
    "ETag",
    "etag",
    "VersionId",
    "version_id",
    "generation",
    "LastModified",
    "last_modified",
    "updated",
)


def content_id(fs: fsspec.AbstractFileSystem, path: str) -> dict[str, str]:
    """The version of `path` as its filesystem reports it: plain strings, for a payload.

    Two calls give equal results only if the file was not rewritten in between (as far as
    the filesystem can tell). One metadata request, no data read.
    """
    return content_id_of(fs.info(path))


def content_id_of(info: dict[str, Any]) -> dict[str, str]:
    """`content_id` from an fsspec `info()`/`ls(detail=True)` entry already at hand."""
    return {key: str(info[key]) for key in _KEYS if info.get(key) is not None}
