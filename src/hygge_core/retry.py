"""Which faults are worth retrying, and the backoff between tries."""

from __future__ import annotations

import errno
import random
import socket
import time
from collections.abc import Callable, Iterator
from types import TracebackType

from hygge_core.config.models import RetryConfig
from hygge_core.errors import PermanentError, TransientError

_TRANSIENT_ERRNOS = {
    errno.ECONNRESET,
    errno.ECONNREFUSED,
    errno.ECONNABORTED,
    errno.ETIMEDOUT,
    errno.EPIPE,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
}


def is_transient(exc: BaseException) -> bool:
    """True for faults that may pass by themselves: plugins raise `TransientError`; core
    also recognises the standard library's connection and timeout errors."""
    if isinstance(exc, PermanentError):
        return False
    if isinstance(exc, TransientError | TimeoutError | socket.timeout | ConnectionError):
        return True
    return isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS


class Attempt:
    """One try: a context manager that keeps a transient fault for `retrying` to judge and
    lets every other exception through."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.fault: Exception | None = None

    def __enter__(self) -> Attempt:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if isinstance(exc, Exception) and is_transient(exc):
            self.fault = exc
            return True
        return False


def backoff(config: RetryConfig, failed: int) -> float:
    """Seconds to wait after the `failed`-th try: `initial`, doubling each time, plus up to
    a second of random jitter (so that flows that failed together do not retry together),
    never more than `maximum`."""
    return min(config.initial * 2 ** (failed - 1) + random.uniform(0, 1), config.maximum)


def retrying(
    config: RetryConfig,
    on_retry: Callable[[str], None] | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> Iterator[Attempt]:
    """Tries for one piece of work: `for attempt in retrying(...): with attempt: work()`.

    A try that raised a transient fault is followed by another after `backoff`, up to
    `config.attempts` tries, the last fault then re-raised; any other exception ends the
    loop at once. `on_retry` receives one line per retry (what failed, which attempt, how
    long we wait). Hand-written rather than a retry library's: tenacity imports tornado
    when it is installed (dask brings it), 60 ms of every `hygge run`.
    """
    for number in range(1, config.attempts + 1):
        attempt = Attempt(number)
        yield attempt
        if attempt.fault is None:
            return
        if number == config.attempts:
            raise attempt.fault
        wait = backoff(config, number)
        if on_retry is not None:
            on_retry(
                f"attempt {number} of {config.attempts} failed ({attempt.fault}); "
                f"retrying in {wait:.1f}s"
            )
        sleep(wait)
