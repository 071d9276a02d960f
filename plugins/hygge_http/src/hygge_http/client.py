"""Requests with manners: keep-alive, retries with backoff, Retry-After, a rate limit.

One `Client` per work unit (httpx keeps its connections alive and reuses them); the rate
limit is shared by every client of the same flow and host in the process.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from hygge_core import PermanentError, TransientError, first_line

# The longest Retry-After honoured as given; longer ones are cut to this (and retried).
MAX_RETRY_AFTER = 120.0
RETRIED = frozenset({408, 425, 429, 500, 502, 503, 504})


class RateLimit:
    """Spaces requests `1 / per_second` apart, across threads."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self.next_at = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next_at)
            self.next_at = at + self.interval
        if at > now:
            time.sleep(at - now)


_limits: dict[tuple[str, str], RateLimit] = {}
_limits_lock = threading.Lock()


def rate_limit(flow: str, host: str, per_second: float) -> RateLimit:
    """The process's limiter of `flow`'s requests to `host`."""
    with _limits_lock:
        key = (flow, host)
        if key not in _limits or _limits[key].interval != 1.0 / per_second:
            _limits[key] = RateLimit(per_second)
        return _limits[key]


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks to wait (`Retry-After: 3` or an HTTP date), if it does."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.replace(".", "", 1).isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - time.time()), MAX_RETRY_AFTER)


class Client:
    """Sends one stream's requests; errors name the request with secrets masked."""

    def __init__(
        self,
        *,
        flow: str,
        headers: dict[str, str],
        auth: httpx.Auth | None,
        timeout: float,
        retries: int,
        backoff: float,
        per_second: float | None,
        mask: Callable[[str], str],
    ) -> None:
        self.flow = flow
        self.retries, self.backoff, self.per_second = retries, backoff, per_second
        self.mask = mask
        self.http = httpx.Client(headers=headers, auth=auth, timeout=timeout, follow_redirects=True)

    def close(self) -> None:
        self.http.close()

    def send(
        self, method: str, url: str, params: dict[str, Any], body: Any, where: str
    ) -> httpx.Response:
        """The response to a request, retried through transient faults; `where` (the
        page) prefixes every error."""
        attempt = 0
        while True:
            if self.per_second:
                rate_limit(self.flow, httpx.URL(url).host, self.per_second).wait()
            wait: float | None = None
            try:
                response = self.http.request(method, url, params=params or None, json=body)
            except httpx.TimeoutException as exc:
                reason = f"timed out ({type(exc).__name__})"
            except httpx.TransportError as exc:
                reason = f"connection failed: {first_line(str(exc), 200) or type(exc).__name__}"
            except (PermanentError, TransientError) as exc:  # from an auth flow
                raise type(exc)(self.mask(f"{where}: {exc}")) from None
            else:
                status = response.status_code
                if status < 400:
                    return response
                if status not in RETRIED:
                    raise PermanentError(self.mask(f"{where}: {self._refused(response)}"))
                reason = f"HTTP {status} {response.reason_phrase}"
                wait = retry_after(response)
                response.close()
            if attempt >= self.retries:
                raise TransientError(
                    self.mask(f"{where}: {reason}, still after {self.retries} retries")
                )
            if wait is None:
                wait = self.backoff * (2**attempt) * (0.5 + random.random())
            time.sleep(wait)
            attempt += 1

    def _refused(self, response: httpx.Response) -> str:
        status = response.status_code
        said = first_line(response.text.strip(), 200)
        text = f"HTTP {status} {response.reason_phrase}" + (f": {said}" if said else "")
        if status == 401:
            return text + "; the API did not accept the credentials: check auth:"
        if status == 403:
            return text + "; the credentials lack permission for this resource"
        if status == 404:
            return text + "; check url: (and the parent fields it uses)"
        return text
