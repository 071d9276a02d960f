"""Tests that need a service (a database, an object store, a cluster): skip without it,
or fail when the run must have every service (`HYGGE_REQUIRE_SERVICES=1`, as in CI), so a
missing service can never turn a CI run green by skipping."""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

REQUIRE_SERVICES = "HYGGE_REQUIRE_SERVICES"


def services_required() -> bool:
    """Whether this run must have every service (`HYGGE_REQUIRE_SERVICES=1`)."""
    return os.environ.get(REQUIRE_SERVICES) == "1"


def missing(message: str) -> NoReturn:
    """Stop the test because something it needs is missing: skip, or fail when services
    are required. `message` says what is missing and how to provide it."""
    import pytest

    if services_required():
        pytest.fail(message)
    pytest.skip(message)


def need_env(*names: str, hint: str = "") -> list[str]:
    """The values of the environment variables `names` (the endpoints of services); when
    one is unset or empty, `missing` with `hint` (how to start the service)."""
    absent = [name for name in names if not os.environ.get(name)]
    if absent:
        how = hint or (
            "start the service and export its settings "
            "(in hygge's repository: `python3 scripts/services.py start`, then source "
            "$HYGGE_SERVICES_DIR/services.env)"
        )
        missing(f"{', '.join(absent)} not set: {how}")
    return [os.environ[name] for name in names]


def need_module(name: str) -> ModuleType:
    """Import an optional package (a client library); without it, `missing`."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"{name} is not installed ({exc})")
