"""Kill loops: SIGKILL `hygge run` at random instants, rerun until the source is drained,
and check that the Parquet store holds exactly the published messages, each once.

The everyday suite runs HYGGE_KILL_POINTS (default 2) points per home kind with small
sources; scripts/stress.sh runs 50, and the `stress` tests below move 200 000 messages.
"""

from __future__ import annotations

import pathlib
import random
import time

import pytest
import yaml

from hygge_core.testing import Kill, kill_points, run_hygge

from .broker import Broker, landed_ids, unique

POINTS = kill_points(default=2)
MESSAGES = 3000


def flows(tmp: pathlib.Path, broker: Broker, source: dict) -> pathlib.Path:
    path = tmp / "flows.yaml"
    home = {"type": "rabbitmq", "url": broker.url, "columns": {"id": "int64", "pad": "string"}}
    home.update(source)
    store = {"type": "parquet", "path": str(tmp / "out")}
    spec = {"home": home, "store": store, "retry": {"attempts": 2, "initial": 0.2}}
    path.write_text(yaml.safe_dump({"flows": {"f": spec}}))
    return path


def landed(tmp: pathlib.Path) -> list[int]:
    return landed_ids(tmp / "out")


def fill(broker: Broker, kind: str, n: int) -> str:
    name = broker.declare(unique(kind), "stream" if kind == "s" else "classic")
    broker.publish(name, ({"id": i, "pad": "x" * 40} for i in range(n)))
    return name


def drain(path: pathlib.Path, broker: Broker, queue: str | None, runs: int = 60) -> None:
    """Clean reruns until nothing is left to read (a queue run takes at most `prefetch`)."""
    for _ in range(runs):
        result = run_hygge("run", str(path), timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        if queue is None or broker.ready(queue) == 0:
            if queue is None:
                return
            result = run_hygge("run", str(path), timeout=600)  # acks nothing new: settles
            assert result.returncode == 0, result.stdout + result.stderr
            return
    raise AssertionError(f"queue {queue} not drained after {runs} runs")


def kill_loop(tmp: pathlib.Path, broker: Broker, kind: str, n: int, points: int) -> None:
    rng = random.Random(f"amqp-{kind}-{n}")
    clean_dir = tmp / "clean"
    clean_dir.mkdir()
    name = fill(broker, kind, n)
    source = {"stream": name} if kind == "s" else {"queue": name, "prefetch": 65_535}
    started = time.monotonic()
    drain(flows(clean_dir, broker, source), broker, name if kind == "q" else None)
    seconds = time.monotonic() - started
    assert sorted(landed(clean_dir)) == list(range(n))
    for k in range(points):
        point = tmp / f"p{k}"
        point.mkdir()
        name = fill(broker, kind, n)
        source = {"stream": name} if kind == "s" else {"queue": name, "prefetch": 65_535}
        path = flows(point, broker, source)
        delay = rng.uniform(0.0, seconds)
        killed = run_hygge("run", str(path), kill=Kill(delay=delay), timeout=600)
        drain(path, broker, name if kind == "q" else None)
        got = landed(point)
        where = f"{kind} point {k}: SIGKILL after {delay:.3f}s (exit {killed.returncode})"
        assert len(got) == len(set(got)), f"{where}: {len(got) - len(set(got))} duplicate(s)"
        assert sorted(got) == list(range(n)), f"{where}: {n - len(set(got))} lost"


@pytest.mark.parametrize("kind", ["s", "q"], ids=["stream", "queue"])
def test_kill_anywhere_then_rerun_converges(
    tmp_path: pathlib.Path, broker: Broker, kind: str
) -> None:
    kill_loop(tmp_path, broker, kind, MESSAGES, POINTS)


@pytest.mark.stress
@pytest.mark.parametrize("kind", ["s", "q"], ids=["stream", "queue"])
def test_200k_messages_land_exactly_once_through_kills(
    tmp_path: pathlib.Path, broker: Broker, kind: str
) -> None:
    kill_loop(tmp_path, broker, kind, 200_000, max(1, POINTS // 10))
