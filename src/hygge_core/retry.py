"""Which faults are worth retrying, and the backoff between tries."""

from __future__ import annotations

import errno
import socket

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

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


def retrying(config: RetryConfig) -> Retrying:
    """A tenacity controller: exponential backoff with jitter, transient faults only."""
    return Retrying(
        stop=stop_after_attempt(config.attempts),
        wait=wait_exponential_jitter(initial=config.initial, max=config.maximum),
        retry=retry_if_exception(is_transient),
        reraise=True,
    )
