"""The queue home: acked only after the commit, redeliveries dropped by the committed ids."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from hygge_core.testing import Kill, run_cli, run_hygge

from .broker import Broker, landed_ids, unique

COLUMNS = {"id": "int64", "name": "string"}


def flows(tmp: pathlib.Path, broker: Broker, queue: str, **home: object) -> pathlib.Path:
    path = tmp / "flows.yaml"
    full = {"type": "rabbitmq", "url": broker.url, "queue": queue, "columns": COLUMNS}
    full.update(home)
    store = {"type": "parquet", "path": str(tmp / "out")}
    path.write_text(yaml.safe_dump({"flows": {"q": {"home": full, "store": store}}}))
    return path


def landed(tmp: pathlib.Path) -> list[int]:
    return landed_ids(tmp / "out")


def rows(n: int, start: int = 0) -> list[dict[str, object]]:
    return [{"id": i, "name": f"n{i}"} for i in range(start, start + n)]


def test_queue_lands_once_and_is_acked(tmp_path: pathlib.Path, broker: Broker) -> None:
    queue = broker.declare(unique("q"))
    broker.publish(queue, rows(2500))
    path = flows(tmp_path, broker, queue, prefetch=1000)
    for _ in range(3):  # at most `prefetch` messages per run
        result = run_cli("run", str(path))
        assert result.code == 0, result.text
    assert sorted(landed(tmp_path)) == list(range(2500))
    assert broker.ready(queue) == 0
    again = run_cli("run", str(path))  # an empty queue: nothing to do
    assert again.code == 0, again.text
    assert len(landed(tmp_path)) == 2500


@pytest.mark.parametrize("kind", ["classic", "quorum"])
def test_crash_after_commit_before_ack_drops_the_redelivered(
    tmp_path: pathlib.Path, broker: Broker, kind: str
) -> None:
    """Killed between the commit and the ack: the broker redelivers every message, and the
    rerun drops them by the ids committed in the flow's state."""
    queue = broker.declare(unique("q"), kind)
    broker.publish(queue, rows(1500))
    path = flows(tmp_path, broker, queue)
    killed = run_hygge("run", str(path), kill=Kill(point="commit.done"))
    assert killed.returncode == -9, killed.stderr
    assert sorted(landed(tmp_path)) == list(range(1500))  # committed, never acked
    assert broker.ready(queue) == 1500  # the broker gave them back
    broker.publish(queue, rows(100, start=1500))
    rerun = run_cli("run", str(path))
    assert rerun.code == 0, rerun.text
    assert sorted(landed(tmp_path)) == list(range(1600))
    assert broker.ready(queue) == 0


def test_crash_before_commit_loses_nothing(tmp_path: pathlib.Path, broker: Broker) -> None:
    queue = broker.declare(unique("q"))
    broker.publish(queue, rows(800))
    path = flows(tmp_path, broker, queue)
    killed = run_hygge("run", str(path), kill=Kill(point="commit.start"))
    assert killed.returncode == -9, killed.stderr
    assert landed(tmp_path) == []
    assert broker.ready(queue) == 800
    rerun = run_cli("run", str(path))
    assert rerun.code == 0, rerun.text
    assert sorted(landed(tmp_path)) == list(range(800))
    # The rerun read the messages again (the crashed run's staging is not adopted: it
    # would commit them unread, leaving them unacked and unremembered), and acked them.
    assert broker.ready(queue) == 0
    third = run_cli("run", str(path))
    assert third.code == 0, third.text
    assert sorted(landed(tmp_path)) == list(range(800))


def test_messages_without_id_are_deduplicated_by_content(
    tmp_path: pathlib.Path, broker: Broker
) -> None:
    queue = broker.declare(unique("q"))
    broker.publish(queue, rows(300), ids=False)
    path = flows(tmp_path, broker, queue, metadata=["redelivered"])
    killed = run_hygge("run", str(path), kill=Kill(point="commit.done"))
    assert killed.returncode == -9
    rerun = run_cli("run", str(path))
    assert rerun.code == 0, rerun.text
    assert sorted(landed(tmp_path)) == list(range(300))
    assert broker.ready(queue) == 0


def test_queue_without_columns_is_a_clear_error(tmp_path: pathlib.Path, broker: Broker) -> None:
    queue = broker.declare(unique("q"))
    path = tmp_path / "flows.yaml"
    home = {"type": "rabbitmq", "url": broker.url, "queue": queue}
    store = {"type": "parquet", "path": str(tmp_path / "out")}
    path.write_text(yaml.safe_dump({"flows": {"q": {"home": home, "store": store}}}))
    result = run_cli("run", str(path))
    assert result.code == 1
    assert f"queue {queue}: declare the JSON fields with columns:" in result.text
    assert "Traceback" not in result.text


def test_wrong_password_is_masked_and_permanent(tmp_path: pathlib.Path, broker: Broker) -> None:
    queue = broker.declare(unique("q"))
    url = broker.url.replace("guest:guest@", "guest:s3cr3t-pw@")
    path = tmp_path / "flows.yaml"
    home = {"type": "rabbitmq", "url": url, "queue": queue, "columns": COLUMNS}
    store = {"type": "parquet", "path": str(tmp_path / "out")}
    path.write_text(yaml.safe_dump({"flows": {"q": {"home": home, "store": store}}}))
    result = run_cli("run", str(path))
    assert result.code == 1
    assert "refused the user or password" in result.text
    assert "s3cr3t-pw" not in result.text


def test_follow_reads_until_max_seconds(tmp_path: pathlib.Path, broker: Broker) -> None:
    queue = broker.declare(unique("q"))
    broker.publish(queue, rows(50))
    path = flows(tmp_path, broker, queue, follow=True, max_seconds=2, max_messages=1000)
    result = run_cli("run", str(path))
    assert result.code == 0, result.text
    assert sorted(landed(tmp_path)) == list(range(50))
    assert broker.ready(queue) == 0
