"""The kill loop: run `hygge run` in a subprocess, kill it at a random point, re-run it
cleanly, and check that the store converged to exactly what the home holds.

Kill points are drawn from a seeded generator, half of them at named fault points
(`hygge_core.faults`: a precise step such as "the 3rd file moved during commit"), half at
a random instant of the run's measured duration, so both the steps we know about and the
ones we do not are covered. The killing itself is the kit's (`hygge_core.testing.kills`).
"""

from __future__ import annotations

import random
import subprocess
import time

from hygge_core.faults import POINTS
from hygge_core.testing.kills import Kill, kill_points, run_hygge

__all__ = ["Kill", "draw", "kill_points", "run", "timed_clean_run"]

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
    return run_hygge("run", flows, kill=kill, env=env, timeout=timeout)


def timed_clean_run(flows: str, env: dict[str, str] | None = None) -> float:
    """Seconds a clean run takes (the range random-instant kills are drawn from)."""
    start = time.monotonic()
    done = run(flows, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return time.monotonic() - start
