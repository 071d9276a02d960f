"""Retry-After in both of its forms, and the rate limit's spacing across threads."""

from __future__ import annotations

import email.utils
import threading
import time

import httpx
from hygge_http.client import MAX_RETRY_AFTER, RateLimit, retry_after


def answer(value: str | None) -> httpx.Response:
    headers = {"Retry-After": value} if value is not None else {}
    return httpx.Response(429, headers=headers)


def test_retry_after_seconds_and_dates() -> None:
    assert retry_after(answer("3")) == 3.0
    assert retry_after(answer("0.5")) == 0.5
    assert retry_after(answer(None)) is None
    assert retry_after(answer("soon")) is None
    later = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8.0 <= (retry_after(answer(later)) or 0) <= 10.0
    past = email.utils.formatdate(time.time() - 100, usegmt=True)
    assert retry_after(answer(past)) == 0.0
    assert retry_after(answer("86400")) == MAX_RETRY_AFTER


def test_rate_limit_spaces_requests_across_threads() -> None:
    limit = RateLimit(20.0)
    times: list[float] = []
    lock = threading.Lock()

    def ask() -> None:
        for _ in range(5):
            limit.wait()
            with lock:
                times.append(time.monotonic())

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times.sort()
    assert times[-1] - times[0] >= 14 / 20 - 0.01  # 15 requests, 1/20 s apart
