"""Run `hygge` in a child process and measure its peak memory and time.

For bounded-memory tests: "5M rows through `hygge run` stay under 400 MB" is a claim about
the hygge process alone. A child forked straight from pytest inherits pytest's peak-RSS
mark, so a small wrapper process runs hygge and reports `RUSAGE_CHILDREN` for its only child.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time
from dataclasses import dataclass

# Runs argv[1:] capturing its output, replays the output, then prints the child's peak RSS
# (KiB on Linux) as the last line of stderr.
_WRAPPER = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(done.stdout)
sys.stderr.write(done.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(done.returncode)
"""


@dataclass
class MeasuredRun:
    """What one measured `hygge` process did."""

    returncode: int
    stdout: str
    stderr: str
    peak_rss: int  # bytes
    seconds: float


def hygge_executable() -> str:
    """The `hygge` script next to the running interpreter (the test's own environment)."""
    return str(pathlib.Path(sys.executable).parent / "hygge")


def run_hygge_measured(
    *args: str,
    cwd: pathlib.Path | str | None = None,
    env: dict[str, str | None] | None = None,
    timeout: float = 900,
) -> MeasuredRun:
    """Run `hygge ARGS`; return its output, exit code, peak RSS in bytes and wall seconds.

    `env` is laid over the current environment; a value of None removes the variable.
    """
    full = {**os.environ, "COLUMNS": "200", **(env or {})}
    clean = {k: v for k, v in full.items() if v is not None}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, hygge_executable(), *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    seconds = time.monotonic() - started
    *rest, last = proc.stderr.rstrip("\n").split("\n")
    return MeasuredRun(proc.returncode, proc.stdout, "\n".join(rest), int(last) * 1024, seconds)
