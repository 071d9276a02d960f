"""The retry loop around a flow's attempts: which faults are retried, how often, how long."""

from __future__ import annotations

import errno

import pytest

from hygge_core.config.models import RetryConfig
from hygge_core.errors import PermanentError, TransientError
from hygge_core.retry import backoff, is_transient, retrying


def run(config: RetryConfig, faults: list[Exception]) -> tuple[int, list[str], list[float]]:
    """Tries of a piece of work that raises `faults` one per try, then succeeds:
    (tries made, retry lines, waits slept)."""
    lines: list[str] = []
    waits: list[float] = []
    tries = 0
    for attempt in retrying(config, lines.append, sleep=waits.append):
        with attempt:
            tries += 1
            if faults:
                raise faults.pop(0)
    return tries, lines, waits


def test_transient_faults_are_retried_until_the_work_succeeds() -> None:
    config = RetryConfig(attempts=3, initial=0.5, maximum=30)
    tries, lines, waits = run(config, [TransientError("reset"), ConnectionResetError("peer")])
    assert tries == 3
    assert [line.split(";")[0] for line in lines] == [
        "attempt 1 of 3 failed (reset)",
        "attempt 2 of 3 failed (peer)",
    ]
    assert 0.5 <= waits[0] <= 1.5 and 1.0 <= waits[1] <= 2.0
    assert lines[0].endswith(f"retrying in {waits[0]:.1f}s")


def test_the_last_fault_is_raised_when_the_attempts_run_out() -> None:
    faults: list[Exception] = [TransientError(f"t{i}") for i in range(3)]
    with pytest.raises(TransientError, match=r"^t1$"):
        run(RetryConfig(attempts=2, initial=0.1), faults)
    assert [str(f) for f in faults] == ["t2"], "exactly two tries"


def test_permanent_faults_and_bugs_end_the_loop_at_once() -> None:
    for fault in [PermanentError("no table"), ValueError("bug"), OSError(errno.ENOSPC, "full")]:
        faults: list[Exception] = [fault, TransientError("never reached")]
        with pytest.raises(type(fault)):
            run(RetryConfig(attempts=5), faults)
        assert len(faults) == 1


def test_one_attempt_means_no_retry() -> None:
    with pytest.raises(TransientError):
        run(RetryConfig(attempts=1), [TransientError("once")])


def test_backoff_doubles_and_stays_under_the_maximum() -> None:
    config = RetryConfig(initial=1.0, maximum=5.0)
    for failed, low in [(1, 1.0), (2, 2.0), (3, 4.0)]:
        assert low <= backoff(config, failed) <= min(low + 1, 5.0)
    assert all(backoff(config, 10) == 5.0 for _ in range(20))


def test_which_faults_are_transient() -> None:
    assert is_transient(TransientError("x"))
    assert is_transient(TimeoutError())
    assert is_transient(OSError(errno.ECONNRESET, "reset"))
    assert not is_transient(OSError(errno.EACCES, "denied"))
    assert not is_transient(PermanentError("x"))
    assert not is_transient(KeyError("x"))
