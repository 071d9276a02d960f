"""Fixtures for hygge-metrics' tests: the real Pushgateway, and reading metrics back."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .readback import Gateway, samples

REQUIRED = os.environ.get("HYGGE_REQUIRE_SERVICES") == "1"


def need_env(*names: str) -> list[str]:
    """The values of the variables; skip without them (fail when services are required)."""
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        message = (
            f"{', '.join(missing)} not set: run `python3 scripts/services.py start "
            "pushgateway` and source $HYGGE_SERVICES_DIR/services.env"
        )
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return [os.environ[n] for n in names]


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    """The running Pushgateway; the groups a test pushed are deleted afterwards."""
    (url,) = need_env("HYGGE_TEST_PUSHGATEWAY_URL")
    gw = Gateway(url)
    yield gw
    for flow in {f for (_, f) in samples(gw.text(), job=gw.job)}:
        gw.delete(flow)
