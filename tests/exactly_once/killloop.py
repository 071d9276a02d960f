"""The kill loop: run `hygge run` in a subprocess, kill it at a random point, re-run it
cleanly, and check that the store converged to exactly what the home holds.

Kill points are drawn from a seeded generator, half of them at named fault points
(`hygge_core.faults`: a precise step such as "the 3rd file moved during commit"), half at
a random instant of the run's measured duration, so both the steps we know about and the
ones we do not are covered.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from hygge_core.faults import POINTS

HYGGE = os.path.join(os.path.dirname(sys.executable), "hygge")

# How often each point can occur in one run of the test flows (upper bounds for the draw).
POINT_RANGE = {
    "batch.staged": 40,
    "unit.staged": 12,
    "commit.start": 1,
    "commit.record": 1,
    "commit.move": 12,
    "commit.state": 1,
    "commit.done": 1,
}


def kill_points(default: int = 4) -> int:
    """How many kill points each combination runs: HYGGE_KILL_POINTS (scripts/stress.sh
    sets 50) or the everyday `default`."""
    return int(os.environ.get("HYGGE_KILL_POINTS", str(default)))


@dataclass
class Kill:
    """One drawn kill: a named fault point, or a delay in seconds after start."""

    point: str | None = None
    nth: int = 1
    delay: float = 0.0

    def describe(self) -> str:
        """For assertion messages, so a failure can be replayed."""
        return f"{self.point}@{self.nth}" if self.point else f"SIGKILL after {self.delay:.3f}s"


def draw(rng: random.Random, clean_seconds: float, points: tuple[str, ...] = POINTS) -> Kill:
    """A random kill: half named points (with a random occurrence), half random instants."""
    if rng.random() < 0.5:
        point = rng.choice(points)
        return Kill(point=point, nth=rng.randint(1, POINT_RANGE.get(point, 1)))
    return Kill(delay=rng.uniform(0.0, clean_seconds))


def run(
    flows: str, *, kill: Kill | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `hygge run FLOWS`, killed as `kill` says; returns the finished process."""
    full = {**os.environ, **(env or {})}
    if kill is not None and kill.point:
        full["HYGGE_FAULTS"] = f"{kill.point}@{kill.nth}=kill"
    proc = subprocess.Popen(
        [HYGGE, "run", flows], env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if kill is not None and not kill.point:
        try:
            proc.wait(timeout=kill.delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def timed_clean_run(flows: str, env: dict[str, str] | None = None) -> float:
    """Seconds a clean run takes (the range random-instant kills are drawn from)."""
    start = time.monotonic()
    done = run(flows, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return time.monotonic() - start
