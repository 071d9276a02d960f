"""An `flock` on a local lock file that leaves nothing behind when it is let go.

A flow that fails before it writes anything must leave the store as it found it — not a
`_hygge/locks/` folder in a store folder that did not exist before. So the holder deletes
its lock file (and the folders up to the store root that are then empty) before it lets
go. Deleting a lock file others may have opened needs care: a waiter that opened the old
file gets the lock on a file no longer in the folder, so after taking the lock it checks
that the path still names the file it holds, and starts over if not.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator


@contextlib.contextmanager
def flock_file(path: str, root: str, *, wait: bool) -> Iterator[None]:
    """Hold an exclusive `flock` on `path`, creating it (and its folders) as needed.

    `wait=False` raises `BlockingIOError` at once when another holder has it. On release
    the file is deleted, then each empty folder from its own up to `root`; `root` itself
    (the user's) only if it did not exist before.
    """
    root = root.rstrip("/")
    folders = []
    folder = os.path.dirname(path)
    while folder.startswith(root + "/"):
        folders.append(folder)  # hygge's own folders under the root, deepest first
        folder = os.path.dirname(folder)
    if not os.path.isdir(root):
        folders.append(root)
    while True:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            handle = open(path, "a+")  # noqa: SIM115 - closed below, after the lock
        except (FileNotFoundError, FileExistsError):
            # A holder letting go removed a folder while it was being made: make it again.
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            handle.close()
            raise
        if same:
            break
        handle.close()  # the previous holder deleted this file: take the new one
    try:
        yield
    finally:
        try:
            os.unlink(path)
            for made in folders:
                os.rmdir(made)  # fails (and stops) at the first folder not empty
        except OSError:
            pass
        finally:
            handle.close()
