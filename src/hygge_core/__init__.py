"""hygge: move data from where it lives (a Home) to where it should settle (a Store).

The public API for plugin authors is what this module exports; everything else is internal.
"""

from __future__ import annotations

import pluggy

import hygge_core._allocator  # noqa: F401 - must run before pyarrow loads
from hygge_core.context import FlowContext
from hygge_core.errors import (
    ConfigError,
    HyggeError,
    PermanentError,
    SchemaDriftError,
    TransientError,
)
from hygge_core.executor import Executor
from hygge_core.filecommit import FileCommitter
from hygge_core.home import Home, HomeConfig, IncrementalConfig
from hygge_core.state import CursorState, FlowState, RunRecord
from hygge_core.storage import ConnectionConfig, Storage
from hygge_core.store import StagedUnit, Store, StoreConfig
from hygge_core.units import Window, WorkUnit

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("hygge")
"""Decorate a plugin module's hook implementations with this marker."""

__all__ = [
    "ConfigError",
    "ConnectionConfig",
    "CursorState",
    "Executor",
    "FileCommitter",
    "FlowContext",
    "FlowState",
    "Home",
    "HomeConfig",
    "HyggeError",
    "IncrementalConfig",
    "PermanentError",
    "RunRecord",
    "SchemaDriftError",
    "StagedUnit",
    "Storage",
    "Store",
    "StoreConfig",
    "TransientError",
    "Window",
    "WorkUnit",
    "__version__",
    "hookimpl",
]
