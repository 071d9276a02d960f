"""Runs that stage data files in place, published only by a table format's own commit.

A Delta or Iceberg store writes its data files straight into the table's folder, under
names only its run can produce: no reader sees them until the table's log (a Delta log
entry, an Iceberg snapshot) references them, so the log is the commit. What is left for
hygge is the bookkeeping around it: a marker per run, written before its first file, so
that after a crash the next run knows which runs died, asks the format whether each had
committed, and deletes the files of each that the table does not reference.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from typing import Any

from hygge_core.filecommit import FileCommitter


class InPlaceRuns:
    """The run markers and cleanup of one flow's store over a table folder.

    `meta` is the flow's bookkeeping folder (markers in `meta/runs/<run>.json`), `files`
    the folder searched (recursively) for data files, of which this flow's start with
    `prefix` followed by the run id; `skip` lists folders under `files` that hold no data
    (the log, hygge's own). `staging` holds a run's files that are no data files (a merge's
    source rows), in `staging/<run>/`. Paths are as `committer.fs` names them.
    """

    def __init__(
        self,
        committer: FileCommitter,
        *,
        meta: str,
        files: str,
        prefix: str,
        staging: str,
        skip: tuple[str, ...] = (),
    ) -> None:
        self.committer = committer
        self.fs = committer.fs
        self.meta = meta
        self.files = files
        self.prefix = prefix
        self.staging = staging
        self.skip = tuple(s.rstrip("/") + "/" for s in skip)

    @property
    def markers(self) -> str:
        """The folder of the runs' markers."""
        return posixpath.join(self.meta, "runs")

    def mark(self, run: str, record: dict[str, Any] | None = None) -> None:
        """Note that `run` is about to write data files (`record`: what recovery needs to
        tell whether it committed, e.g. its transaction number). Call before the first."""
        path = posixpath.join(self.markers, f"{run}.json")
        self.committer.write_atomic(path, json.dumps(record or {}).encode())

    def forget(self, run: str) -> None:
        """Remove `run`'s marker: it committed and cleaned up, or aborted and cleaned up."""
        path = posixpath.join(self.markers, f"{run}.json")
        if self.fs.exists(path):
            self.fs.rm(path)

    def recover(
        self,
        current_run: str,
        keep: Callable[[str, dict[str, Any]], set[str] | None],
        *half_written: str,
    ) -> list[str]:
        """Settle every run with a marker but `current_run`: `keep(run, record)` gives the
        files its commit references (it committed) or None (it never did); the run's
        other files, or all of them, are deleted, then its marker. Half-written temporary
        files of markers and of the `half_written` glob patterns go first. One line per
        action, for the run log."""
        lines = self.committer.remove_half_written(
            posixpath.join(self.markers, "*.tmp"), *half_written
        )
        if not self.fs.exists(self.markers):
            return lines
        for marker in sorted(self.fs.ls(self.markers, detail=False)):
            run = posixpath.basename(marker).removesuffix(".json")
            if run == current_run or marker.endswith(".tmp"):
                continue
            kept = keep(run, json.loads(self.fs.cat_file(marker)))
            removed = self.cleanup(run, kept)
            self.fs.rm(marker)
            if kept is None:
                lines.append(f"run {run} never committed; its {removed} data file(s) removed")
            else:
                extra = f"; {removed} unused data file(s) removed" if removed else ""
                lines.append(f"run {run} had committed before it stopped{extra}")
        return lines

    def cleanup(self, run: str, keep: set[str] | None) -> int:
        """Delete the data files `run` wrote that are not in `keep` (all of them when
        `keep` is None: the run never committed) and its staging. Returns how many data
        files went."""
        start = f"{self.prefix}{run}-"
        doomed = [
            p
            for p in self.data_files()
            if posixpath.basename(p).startswith(start) and (keep is None or p not in keep)
        ]
        for path in doomed:
            self.fs.rm(path)
        self.remove_staging(run)
        return len(doomed)

    def remove_staging(self, run: str) -> None:
        """Delete `run`'s staging folder, if any."""
        folder = posixpath.join(self.staging, run)
        if self.fs.exists(folder):
            self.fs.rm(folder, recursive=True)

    def data_files(self) -> list[str]:
        """Every file under `files` outside the `skip` folders."""
        if not self.fs.exists(self.files):
            return []
        return [
            p
            for p in self.fs.find(self.files)
            if not posixpath.relpath(p, self.files).startswith(self.skip)
        ]

    def leftovers(self, keep: set[str], *, markers: bool = False) -> list[str]:
        """This flow's data files not in `keep` (what the table references), its staging,
        and (with `markers`) its run markers: what recovery removes, for tests and
        `hygge state show`."""
        found = [
            p
            for p in self.data_files()
            if posixpath.basename(p).startswith(self.prefix) and p not in keep
        ]
        folders = [self.staging, self.markers] if markers else [self.staging]
        for folder in folders:
            if self.fs.exists(folder):
                found += self.fs.find(folder)
        return sorted(found)
