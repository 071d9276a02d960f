"""Killing a real `hygge run` with SIGKILL: at a named fault point, or at an instant.

A child process runs the command; the kill comes from inside it (`HYGGE_FAULTS`, see
`hygge_core.faults`), at a step that `fault_point` names or a number of seconds after one,
or from outside, a number of seconds after the child started. Nothing of the child's
cleanup runs, exactly as when the machine loses power: the next run has to cope.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass

# The child runs hygge's console entry point under this very interpreter, so it sees the
# same installed plugins (and PYTHONPATH) as the tests do.
HYGGE = [sys.executable, "-c", "from hygge_core.cli import main; main()"]


@dataclass
class Kill:
    """One kill: at the `nth` pass of fault point `point` (`delay` seconds after it, when
    set), or without a point `delay` seconds after the child started."""

    point: str | None = None
    nth: int = 1
    delay: float = 0.0

    def describe(self) -> str:
        """For assertion messages, so a failure can be replayed."""
        if not self.point:
            return f"SIGKILL {self.delay:.3f}s after start"
        at = f"{self.point}@{self.nth}"
        if self.delay:
            return f"SIGKILL {self.delay * 1000:.1f} ms after {at}"
        return f"SIGKILL at {at}"

    def faults(self) -> str | None:
        """The `HYGGE_FAULTS` rule that makes the child kill itself, if any."""
        if not self.point:
            return None
        action = f"kill-after:{self.delay:.6f}" if self.delay else "kill"
        return f"{self.point}@{self.nth}={action}"


def kill_points(default: int = 4) -> int:
    """How many random kills a check makes: `HYGGE_KILL_POINTS` (for stress runs, e.g.
    scripts/stress.sh sets 50) or the everyday `default`."""
    return int(os.environ.get("HYGGE_KILL_POINTS", str(default)))


def run_hygge(
    *args: str,
    kill: Kill | None = None,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `hygge ARGS` in a child, killed as `kill` says; returns the finished process
    (`returncode == -9` when the kill happened, 0 when the run finished first)."""
    full = {k: v for k, v in os.environ.items() if k != "HYGGE_FAULTS"}
    full.update(env or {})
    if kill is not None and kill.faults():
        full["HYGGE_FAULTS"] = kill.faults() or ""
    proc = subprocess.Popen(
        [*HYGGE, *args],
        env=full,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if kill is not None and not kill.point:
        try:
            proc.wait(timeout=kill.delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
