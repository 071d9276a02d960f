"""Which modules a `hygge` command imports, for tests that keep runs light.

Every `hygge` command loads every installed plugin's registration module, so a plugin that
imports its driver at registration makes every run pay for it. A test runs the real command
in a child process and asks which modules under given prefixes it had imported at the end.
"""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys
from dataclasses import dataclass

# Runs `hygge ARGS` in this interpreter and prints, at exit, the imported modules whose
# names start with one of the prefixes in HYGGE_PROBE_PREFIXES (comma-separated).
_PROBE = """
import atexit, os, sys
watched = tuple(os.environ["HYGGE_PROBE_PREFIXES"].split(","))
atexit.register(lambda: print("LOADED", sorted(m for m in sys.modules if m.startswith(watched))))
from hygge_core.cli import main
sys.argv = ["hygge", *sys.argv[1:]]
main()
"""


@dataclass
class ImportProbe:
    """A finished `hygge` command and the watched modules it had imported."""

    returncode: int
    stdout: str
    stderr: str
    modules: list[str]


def hygge_imports(
    *args: str,
    prefixes: tuple[str, ...],
    cwd: str | pathlib.Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> ImportProbe:
    """Run `hygge ARGS` in a child and report the modules starting with `prefixes` it
    imported (the interpreter's teardown runs: `HYGGE_CLEAN_EXIT=1`)."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=cwd,
        env={
            **os.environ,
            **(env or {}),
            "HYGGE_CLEAN_EXIT": "1",
            "HYGGE_PROBE_PREFIXES": ",".join(prefixes),
        },
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("LOADED ")]
    modules = ast.literal_eval(lines[-1].removeprefix("LOADED ")) if lines else []
    return ImportProbe(done.returncode, done.stdout, done.stderr, modules)
