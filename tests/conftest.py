"""Shared fixtures for hygge's own tests: running the real CLI as a subprocess."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from dataclasses import dataclass

import pytest

from hygge_core.testing import run_hygge_measured

ROOT = pathlib.Path(__file__).resolve().parents[1]
HYGGE = str(pathlib.Path(sys.executable).parent / "hygge")


@dataclass
class Completed:
    """A finished `hygge` process."""

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
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> Completed:
    """Run `hygge ARGS` in a subprocess, the way users do."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    proc = subprocess.run(
        [HYGGE, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )
    return Completed(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli():
    """The `run_cli` helper as a fixture."""
    return run_cli


def run_measured(
    *args: str,
    cwd: pathlib.Path | str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> tuple[Completed, int]:
    """Run `hygge ARGS` and return its result and peak RSS in bytes (the kit's
    `run_hygge_measured`: hygge's own peak, not pytest's)."""
    run = run_hygge_measured(*args, cwd=cwd, env=dict(env or {}), timeout=timeout)
    return Completed(run.returncode, run.stdout, run.stderr), run.peak_rss
