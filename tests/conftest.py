"""Shared fixtures for hygge's own tests: running the real CLI as a subprocess."""

from __future__ import annotations

import pathlib

import pytest

from hygge_core.testing import Completed, run_cli, run_hygge_measured

ROOT = pathlib.Path(__file__).resolve().parents[1]


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
