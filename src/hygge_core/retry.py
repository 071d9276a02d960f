"""Which faults are worth retrying, and the backoff between tries."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

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


# Faults of the disk or permissions: retrying cannot help, the user must act.
PERMANENT_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
}


def is_transient(exc: BaseException) -> bool:
    """True for faults that may pass by themselves: plugins raise `TransientError`; core
    also recognises the standard library's connection and timeout errors."""
    if isinstance(exc, PermanentError):
        return False
    if isinstance(exc, TransientError | TimeoutError | socket.timeout | ConnectionError):
        return True
    return isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS


def retrying(config: RetryConfig, on_retry: Callable[[str], None] | None = None) -> Retrying:
    """A tenacity controller: exponential backoff with jitter, transient faults only.

    `on_retry` receives one line per retry (what failed, which attempt, how long we wait).
    """

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is None or state.outcome is None:
            return
        exc = state.outcome.exception()
        wait = state.next_action.sleep if state.next_action else 0.0
        on_retry(
            f"attempt {state.attempt_number} of {config.attempts} failed ({exc}); "
            f"retrying in {wait:.1f}s"
        )

    return Retrying(
        stop=stop_after_attempt(config.attempts),
        wait=wait_exponential_jitter(initial=config.initial, max=config.maximum),
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep,
        reraise=True,
    )
