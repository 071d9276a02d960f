"""Run the real `hygge` command in a child process, the way users do, from a test."""

from __future__ import annotations

import os
import pathlib
import subprocess
from dataclasses import dataclass

from hygge_core.testing.measure import hygge_executable


@dataclass
class Completed:
    """A finished `hygge` process: exit code, stdout and stderr."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        """stdout and stderr together."""
        return self.out + self.err


def run_cli(
    *args: str,
    cwd: pathlib.Path | str | None = None,
    env: dict[str, str | None] | None = None,
    timeout: float = 300,
) -> Completed:
    """Run `hygge ARGS` (the script beside the test's interpreter) and wait for it.

    `env` is laid over the current environment; a value of None removes the variable.
    `COLUMNS=200` keeps rich from wrapping the lines a test compares.
    """
    full = {**os.environ, "COLUMNS": "200", **(env or {})}
    clean = {k: v for k, v in full.items() if v is not None}
    proc = subprocess.run(
        [hygge_executable(), *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Completed(proc.returncode, proc.stdout, proc.stderr)
