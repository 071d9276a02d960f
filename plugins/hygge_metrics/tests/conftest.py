"""Fixtures for hygge-metrics' tests: the real Pushgateway, and reading metrics back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hygge_core.testing import need_env as _need_env

from .readback import Gateway, samples


def need_env(*names: str) -> list[str]:
    """The values of the variables; skip without them (fail when services are required)."""
    return _need_env(
        *names,
        hint="run `python3 scripts/services.py start pushgateway` and source "
        "$HYGGE_SERVICES_DIR/services.env",
    )


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    """The running Pushgateway; the groups a test pushed are deleted afterwards."""
    (url,) = need_env("HYGGE_TEST_PUSHGATEWAY_URL")
    gw = Gateway(url)
    yield gw
    for flow in {f for (_, f) in samples(gw.text(), job=gw.job)}:
        gw.delete(flow)
