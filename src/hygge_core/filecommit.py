"""The commit protocol of file stores: a commit record first, then moves, then done.

Layout under a store's root (readers such as pyarrow, Spark and DuckDB skip `_` prefixes):

    _hygge_staging/<flow>/<run_id>/...   staged files of a run in progress
    _hygge_staging/<flow>/<run_id>/_units/<fingerprint>.json   a unit fully staged
    _hygge/commits/<flow>/<run_id>.json  a decided but unfinished commit
    _hygge/state/<flow>.json             the flow's committed state
    _hygge/targets/<file>.lock           held while a commit rebuilds one shared file

To commit, the record (every staged→final move, every file to delete, the new state) is
written atomically; from that instant the commit has happened. Then files move, the state
file is replaced, and the record is removed. A run that finds a record rolls it forward
before anything else — every step is idempotent — and a staging folder without a record
belongs to a run that never committed, so it is deleted. That is what makes a crash at any
instant converge on the next run.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import random
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from hygge_core import faults
from hygge_core.errors import PermanentError
from hygge_core.filelist import visible
from hygge_core.flownames import path_part
from hygge_core.health import Finding
from hygge_core.leaselock import LeaseLock
from hygge_core.locallock import flock_file
from hygge_core.state import FlowState, RunRecord

if TYPE_CHECKING:
    import fsspec  # the type only: fsspec loads with the first filesystem opened

STAGING = "_hygge_staging"
META = "_hygge"


class FileCommitter:
    """Runs the commit protocol for one flow writing into `root` on filesystem `fs`."""

    def __init__(
        self, fs: fsspec.AbstractFileSystem, root: str, flow: str, *, atomic_rename: bool
    ) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.flow = flow
        # The name as one path element: config checks names, but a caller may not have.
        self._part = path_part(flow)
        self.atomic_rename = atomic_rename
        self._lease: LeaseLock | None = None

    # -- paths ---------------------------------------------------------------------------
    def staging_dir(self, run_id: str) -> str:
        """Where run `run_id` stages its files."""
        return posixpath.join(self.root, STAGING, self._part, run_id)

    @property
    def state_path(self) -> str:
        """The flow's committed state."""
        return posixpath.join(self.root, META, "state", f"{self._part}.json")

    @property
    def records_dir(self) -> str:
        """Where decided-but-unfinished commit records of this flow live."""
        return posixpath.join(self.root, META, "commits", self._part)

    def record_path(self, run_id: str) -> str:
        """The commit record of run `run_id`."""
        return posixpath.join(self.records_dir, f"{run_id}.json")

    # -- state ---------------------------------------------------------------------------
    def read_state(self) -> FlowState | None:
        """The committed state, or None when the flow never committed here."""
        try:
            raw = self.fs.cat_file(self.state_path)
        except FileNotFoundError:
            return None
        return FlowState.model_validate_json(raw)

    def reset_state(self) -> bool:
        """Delete the state file; True if there was one."""
        if not self.fs.exists(self.state_path):
            return False
        self.fs.rm(self.state_path)
        return True

    def data_files(self) -> list[str]:
        """Every published file under the root (hidden folders and files excluded)."""
        if not self.fs.exists(self.root):
            return []
        return visible(self.fs.find(self.root), self.root)

    # -- protocol ------------------------------------------------------------------------
    def recover(self, current_run: str | None = None) -> list[str]:
        """Roll forward every decided commit. Returns one line per action, for the run log.

        Staging of runs that never committed is left for `resumable` and removed by the
        next commit, so work a crashed run finished is not thrown away.
        """
        done = self.remove_half_written(
            f"{self.state_path}.*.tmp", posixpath.join(self.records_dir, "*.tmp")
        )
        for path in sorted(self._list(self.records_dir)):
            record = json.loads(self.fs.cat_file(path))
            self._apply(record)
            done.append(f"completed the interrupted commit of run {record['run_id']}")
        return done

    def remove_half_written(self, *patterns: str) -> list[str]:
        """Delete the temporary files of `write_atomic` calls that a killed process never
        finished, among those that the glob `patterns` match (`<path>.*.tmp`); one line
        per file. Call it holding the lock of every writer of those paths."""
        done = []
        if self.atomic_rename:  # otherwise write_atomic writes no temporary file
            for pattern in patterns:
                for path in sorted(self.fs.glob(pattern)):
                    self.fs.rm(path)
                    done.append(f"removed {posixpath.basename(path)}, left by a killed run")
        return done

    def recover_target(self, target: str) -> list[str]:
        """Roll forward the decided commits of *any* flow that publish `target`.

        Several flows may append to one file (a single CSV file): each commit rebuilds the
        file from the bytes it finds, so another flow's decided but unfinished commit must
        land first or it would later replace the file with bytes that miss this commit.
        Call it holding `target_lock(target)`, under which no live commit of `target` runs.
        """
        done = []
        for folder in sorted(self._list(posixpath.join(self.root, META, "commits"))):
            for path in sorted(self._list(folder)):
                record = json.loads(self.fs.cat_file(path))
                if not any(dst == target for _, dst in record["moves"]):
                    continue
                owner = FileCommitter(
                    self.fs, self.root, record["flow"], atomic_rename=self.atomic_rename
                )
                owner._apply(record)
                done.append(
                    f"completed the interrupted commit of run {record['run_id']} "
                    f"(flow '{record['flow']}') into {target}"
                )
        return done

    def stale_runs(self, current_run: str | None) -> list[str]:
        """Runs of this flow that left staging behind (all but `current_run`)."""
        staging_root = posixpath.join(self.root, STAGING, self._part)
        runs = [posixpath.basename(p.rstrip("/")) for p in self._list(staging_root)]
        return sorted(r for r in runs if r != current_run)

    def record_failure(self, record: RunRecord) -> bool:
        """Add a failed run to the committed state's history (cursor unchanged); False
        when the flow has no state here. Call it holding `lock()`, after `recover()`: a
        decided commit still pending would replace the state file afterwards."""
        state = self.read_state()
        if state is None or self._list(self.records_dir):
            return False
        updated = state.with_run(record, None)
        self.write_atomic(self.state_path, updated.model_dump_json().encode())
        return True

    def health(self) -> list[Finding]:
        """Unfinished commit records and staging of runs that never committed, for
        `hygge doctor`: both are what a crash (or a run still going) leaves."""
        found = []
        deciding = set()  # runs whose staging an unfinished record is about to move
        for path in sorted(self._list(self.records_dir)):
            if path.endswith(".json"):
                run = posixpath.basename(path)[: -len(".json")]
                deciding.add(run)
                found.append(
                    Finding(
                        "warning",
                        "commit",
                        f"unfinished commit record of run {run} ({path}): a run was killed "
                        "while committing; the next `hygge run` completes it before anything "
                        "else (rerun the flow)",
                    )
                )
        for run in [r for r in self.stale_runs(None) if r not in deciding]:
            found.append(
                Finding(
                    "warning",
                    "staging",
                    f"orphaned staging of run {run} ({self.staging_dir(run)}): a run that "
                    "never committed (killed, or still running); the next `hygge run` adopts "
                    "its finished units and removes the rest",
                )
            )
        if not found:
            found.append(Finding("ok", "commit", "no unfinished commit, no orphaned staging"))
        return found

    def remember(self, run_id: str, fingerprint: str, record: dict[str, Any]) -> None:
        """Note that a unit of `run_id` is fully staged (see `resumable`)."""
        path = posixpath.join(self.staging_dir(run_id), "_units", f"{fingerprint}.json")
        self.write_atomic(path, json.dumps(record).encode())

    def resumable(self, current_run: str | None) -> dict[str, dict[str, Any]]:
        """Fully staged units of runs that never committed, by fingerprint (newest wins)."""
        found: dict[str, dict[str, Any]] = {}
        for run in self.stale_runs(current_run):
            for path in self._list(posixpath.join(self.staging_dir(run), "_units")):
                name = posixpath.basename(path)
                if name.endswith(".json"):
                    found[name[: -len(".json")]] = json.loads(self.fs.cat_file(path))
        return found

    def commit(
        self, run_id: str, moves: list[tuple[str, str]], deletes: list[str], state: FlowState
    ) -> None:
        """Decide the commit by writing its record, then carry it out.

        Staging of earlier runs that never committed is removed as part of the commit: the
        units this run adopted from them have moved by then, and the rest is garbage.
        """
        record = {
            "run_id": run_id,
            "flow": self.flow,
            "moves": moves,
            "deletes": deletes,
            "cleanup": self.stale_runs(run_id),
            "state": state.model_dump(mode="json"),
        }
        if self._lease is not None:
            self._lease.check()  # a run that lost its lock must not commit
        self.write_atomic(self.record_path(run_id), json.dumps(record).encode())
        faults.fault_point("commit.record")
        self._apply(record)

    def abort(self, run_id: str) -> None:
        """Delete what run `run_id` staged."""
        path = self.staging_dir(run_id)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def _apply(self, record: dict[str, Any]) -> None:
        def move(pair: list[str]) -> None:
            src, dst = pair
            if self.fs.exists(src):
                self._move(src, dst)
                faults.fault_point("commit.move")
            elif not self.fs.exists(dst):
                raise PermanentError(
                    f"commit of run {record['run_id']} cannot finish: staged file {src} is "
                    f"gone and {dst} was never published; the store at {self.root} was "
                    "changed by something other than hygge"
                )

        if self.atomic_rename:
            for pair in record["moves"]:
                move(pair)
        else:
            # Object stores: each move is a server-side copy and a delete, two round trips;
            # they are independent and idempotent, so they run side by side.
            with ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(move, record["moves"]))
        for path in record["deletes"]:
            if self.fs.exists(path):
                self.fs.rm(path)
        state = FlowState.model_validate(record["state"])
        self.write_atomic(self.state_path, state.model_dump_json().encode())
        faults.fault_point("commit.state")
        self.fs.rm(self.record_path(record["run_id"]))
        for run in [record["run_id"], *record.get("cleanup", [])]:
            self.abort(run)

    def _move(self, src: str, dst: str) -> None:
        parent = posixpath.dirname(dst)
        if self.atomic_rename:
            self.fs.makedirs(parent, exist_ok=True)
            os.replace(src, dst) if _is_local(self.fs) else self.fs.mv(src, dst)
        else:
            # Object stores: a server-side copy, then delete; re-running both is harmless.
            # cp_file/rm_file skip the listing that copy/rm make first.
            self.fs.cp_file(src, dst)
            self.fs.rm_file(src)

    def write_atomic(self, path: str, data: bytes) -> None:
        """Replace `path` with `data` so that readers see the old or the new bytes only."""
        if self.atomic_rename:
            self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
            tmp = f"{path}.{uuid.uuid4().hex}.tmp"
            with self.fs.open(tmp, "wb") as f:
                f.write(data)
                if _is_local(self.fs):
                    f.flush()
                    os.fsync(f.fileno())
            if _is_local(self.fs):
                os.replace(tmp, path)
            else:
                self.fs.mv(tmp, path)
        else:
            self.fs.pipe_file(path, data)  # one PUT: object stores make it visible whole

    def _list(self, path: str) -> list[str]:
        try:
            return [p for p in self.fs.ls(path, detail=False) if not p.endswith(".tmp")]
        except FileNotFoundError:
            return []

    @contextlib.contextmanager
    def target_lock(self, target: str, timeout: float = 3600.0) -> Iterator[None]:
        """Hold the lock of one published file that several flows may rebuild (a single
        CSV or JSON-lines file), waiting for another holder — of this process or another —
        instead of failing: flows appending to one file commit one after another.
        """
        name = posixpath.basename(target)
        if not _is_local(self.fs):
            folder = posixpath.join(self.root, META, "targets", name)
            deadline = time.monotonic() + timeout
            while True:
                lease = LeaseLock(self.fs, folder, name, self.root)
                try:
                    lease.acquire()
                    break
                except PermanentError as exc:
                    if "already running" not in str(exc) or time.monotonic() > deadline:
                        raise  # not a holder to wait for, or one that never lets go
                    time.sleep(0.2 + random.random() * 0.3)
            try:
                yield
            finally:
                lease.release()
            return
        path = posixpath.join(self.root, META, "targets", f"{name}.lock")
        with flock_file(path, self.root, wait=True):  # until the other commit is done
            yield

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the flow's lock while it runs: an `flock` on a local disk, a lease object
        elsewhere (`hygge_core.leaselock`).

        Two processes running one flow into one store would delete each other's staging
        and commit twice.
        """
        if not _is_local(self.fs):
            folder = posixpath.join(self.root, META, "locks", self._part)
            with LeaseLock(self.fs, folder, self.flow, self.root) as lease:
                self._lease = lease
                try:
                    yield
                finally:
                    self._lease = None
            return
        path = posixpath.join(self.root, META, "locks", f"{self._part}.lock")
        held = contextlib.ExitStack()
        try:
            held.enter_context(flock_file(path, self.root, wait=False))
        except BlockingIOError:
            raise PermanentError(
                f"flow '{self.flow}' is already running into {self.root} "
                "in another process; wait for it to finish"
            ) from None
        with held:
            yield


def _is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
