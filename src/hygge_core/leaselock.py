"""A flow's lock on an object store, where no `flock` exists: a lease taken by an exclusive
create and kept alive by renewal.

Two processes running one flow into one store would commit each other's work twice (an
overlapping cron job is enough). On a local disk `FileCommitter.lock` holds an `flock`; on
S3, Azure Blob and GCS the lock is an object under `_hygge/locks/<flow>/`, one per holder,
numbered: `000000000007.json` names the run that holds it, its host and process.

- **Taking it**: create the next number *exclusively* (S3 `If-None-Match: *`, Azure
  `If-None-Match: *`, GCS `ifGenerationMatch=0`): of two runs that race for one number,
  one gets it and the other is told the flow is running. The winner then looks at every
  lower number still there: each must have lapsed — a process of this same machine that no
  longer exists, or a lease not renewed for `lease` seconds by the store's own clock (its
  last write against the one just made) — or the newcomer deletes its object and is told
  the flow is running.
- **Keeping it**: a thread rewrites the object every third of the lease.
- **Losing it**: a holder paused past its lease may find a higher number before it commits
  (`check`): it stops with a transient error instead of committing beside the new holder.
  Without fencing tokens on object stores a pause between that check and the commit record
  cannot be ruled out; the lease (60 s) makes it a matter of a process frozen for a minute.

Stores whose servers ignore conditional writes (some S3-compatible ones) get no exclusion
from this; AWS S3, Azure Blob Storage, GCS and their emulators honour it.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import re
import socket
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hygge_core.errors import PermanentError, TransientError

if TYPE_CHECKING:
    import fsspec  # the type only: fsspec loads with the first filesystem opened

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
_NAME = re.compile(r"^(\d{12})\.json$")


def lease_seconds() -> float:
    """The lease: `HYGGE_LOCK_LEASE_SECONDS` (tests shorten it), else 60 seconds."""
    text = os.environ.get("HYGGE_LOCK_LEASE_SECONDS", "").strip()
    try:
        return float(text) if text else LEASE_SECONDS
    except ValueError:
        raise PermanentError(
            f"HYGGE_LOCK_LEASE_SECONDS must be a number of seconds, not '{text}'"
        ) from None


def _boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return None


def _started(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot), or None if there is no such
    process (or no /proc). Telling a reused pid from the original needs both."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _me() -> dict[str, Any]:
    pid = os.getpid()
    return {
        "host": socket.gethostname(),
        "boot": _boot_id(),
        "pid": pid,
        "started": _started(pid),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _gone(holder: dict[str, Any]) -> bool:
    """True when `holder` was a process of this machine (this boot) that no longer runs."""
    me = _me()
    if holder.get("host") != me["host"] or holder.get("boot") != me["boot"] or not me["boot"]:
        return False
    pid = holder.get("pid")
    return not isinstance(pid, int) or _started(pid) != holder.get("started")


class LeaseLock:
    """The lock of `flow` under `folder` on filesystem `fs`; see the module's docstring."""

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        folder: str,
        flow: str,
        where: str,
        lease: float | None = None,
    ) -> None:
        self.fs = fs
        self.folder = folder.rstrip("/")
        self.flow = flow
        self.where = where
        self.lease = lease if lease is not None else lease_seconds()
        self.number: int | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def path(self, number: int) -> str:
        return posixpath.join(self.folder, f"{number:012d}.json")

    def _numbers(self) -> list[int]:
        self.fs.invalidate_cache(self.folder)
        try:
            names = [posixpath.basename(p) for p in self.fs.ls(self.folder, detail=False)]
        except FileNotFoundError:
            return []
        return sorted(int(m.group(1)) for n in names if (m := _NAME.match(n)))

    def _busy(self, holder: dict[str, Any] | None) -> PermanentError:
        who = ""
        if holder:
            host, pid, since = (holder.get(k) for k in ("host", "pid", "since"))
            who = f" (host {host}, pid {pid}, since {since})"
        return PermanentError(
            f"flow '{self.flow}' is already running into {self.where} in another process"
            f"{who}; wait for it to finish (if that process is gone, its lock lapses "
            f"{self.lease:.0f} s after its last renewal)"
        )

    def acquire(self) -> None:
        """Take the lock or raise `PermanentError` naming the holder."""
        numbers = self._numbers()
        mine = (numbers[-1] if numbers else 0) + 1
        body = json.dumps(_me()).encode()
        try:
            self.fs.pipe_file(self.path(mine), body, mode="create")
        except FileExistsError:
            raise self._busy(self._holder(mine)) from None
        try:
            # Every lower number still there must have lapsed: the highest alone is not
            # enough (it may be a racer that is about to delete itself, or one that died
            # right after creating it, above the live holder).
            below = [n for n in self._numbers() if n < mine]
            for number in reversed(below):
                holder = self._holder(number)
                if holder is not None and not self._lapsed(number, holder, mine):
                    raise self._busy(holder)
        except BaseException:
            self._delete(mine)  # or the next attempt would find this run's own lock
            raise
        self.number = mine
        for old in below:
            self._delete(old)
        self._renewer = threading.Thread(
            target=self._renew, args=(body,), name=f"hygge-lease-{self.flow}", daemon=True
        )
        self._renewer.start()

    def _holder(self, number: int) -> dict[str, Any] | None:
        """What the lock object `number` says, or None if it is gone (released)."""
        try:
            return json.loads(self.fs.cat_file(self.path(number)))
        except FileNotFoundError:
            return None
        except ValueError:  # half-written by hand, or another tool: judge by its age only
            return {}

    def _lapsed(self, number: int, holder: dict[str, Any], mine: int) -> bool:
        if _gone(holder):
            return True
        try:
            age = self.fs.modified(self.path(mine)) - self.fs.modified(self.path(number))
        except FileNotFoundError:
            return True  # released meanwhile
        return age.total_seconds() >= self.lease

    def _renew(self, body: bytes) -> None:
        assert self.number is not None
        while not self._stop.wait(self.lease / 3):
            try:
                self.fs.pipe_file(self.path(self.number), body)
            except Exception as exc:  # the next renewal may pass; `check` decides
                log.warning("flow %s: could not renew its lock: %s", self.flow, exc)

    def check(self) -> None:
        """Raise `TransientError` if another run has taken the lock since (this run was
        paused past its lease): it must not commit."""
        if self.number is None:
            return
        newer = [n for n in self._numbers() if n > self.number]
        if newer:
            # A run that found this lock held deletes its own object at once: give it a
            # moment before concluding it took the lock over.
            time.sleep(1.0)
            newer = [n for n in self._numbers() if n > self.number]
        if newer:
            raise TransientError(
                f"flow '{self.flow}' lost its lock on {self.where} to another run "
                f"(this run did not renew it within {self.lease:.0f} s); nothing was committed"
            )

    def release(self) -> None:
        """Stop renewing and delete the lock object."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if self.number is not None:
            self._delete(self.number)
            self.number = None

    def _delete(self, number: int) -> None:
        try:
            self.fs.rm_file(self.path(number))
        except FileNotFoundError:
            pass
        except Exception as exc:  # a leftover lock object lapses by itself
            log.warning("flow %s: could not delete lock %s: %s", self.flow, number, exc)

    def __enter__(self) -> LeaseLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
