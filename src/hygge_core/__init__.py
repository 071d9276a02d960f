"""hygge: move data from where it lives (a Home) to where it should settle (a Store).

The public API for plugin authors is what this module exports, plus the documented
submodules `hygge_core.files` (file homes and stores), `hygge_core.executor` (executors) and
`hygge_core.testing` (the kit); everything else is internal (docs/plugins/api.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

import hygge_core._allocator  # noqa: F401 - must run before pyarrow loads
from hygge_core.lazy import lazy_exports

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("hygge")
"""Decorate a plugin module's hook implementations with this marker."""

# The public API, imported on first use so that `hygge --help` does not pay for pyarrow,
# pydantic and fsspec (PEP 562).
_EXPORTS = {
    "ConfigError": "hygge_core.errors",
    "HyggeError": "hygge_core.errors",
    "PermanentError": "hygge_core.errors",
    "Problem": "hygge_core.errors",
    "SchemaDriftError": "hygge_core.errors",
    "TransientError": "hygge_core.errors",
    "describe_error": "hygge_core.errors",
    "first_line": "hygge_core.errors",
    "is_transient": "hygge_core.retry",
    "mask_url": "hygge_core.secrets",
    "drift": "hygge_core.schema",
    "evolved": "hygge_core.schema",
    "fill_columns": "hygge_core.schema",
    "rebase_path": "hygge_core.paths",
    "FlowContext": "hygge_core.context",
    "FlowMemory": "hygge_core.memory",
    "UnitShare": "hygge_core.memory",
    "Executor": "hygge_core.executor",
    "arrow_filesystem": "hygge_core.arrowfs",
    "FileCommitter": "hygge_core.filecommit",
    "FileStore": "hygge_core.filestore",
    "FileStoreConfig": "hygge_core.filestore",
    "Finding": "hygge_core.health",
    "Home": "hygge_core.home",
    "HomeConfig": "hygge_core.home",
    "content_id": "hygge_core.sourceid",
    "IncrementalConfig": "hygge_core.home",
    "CursorState": "hygge_core.state",
    "FlowState": "hygge_core.state",
    "RunRecord": "hygge_core.state",
    "ConnectionConfig": "hygge_core.storage",
    "Storage": "hygge_core.storage",
    "StagedUnit": "hygge_core.store",
    "Store": "hygge_core.store",
    "StoreConfig": "hygge_core.store",
    "Window": "hygge_core.units",
    "WorkUnit": "hygge_core.units",
    "Transform": "hygge_core.transforms",
    "TransformConfig": "hygge_core.transforms",
    "RunInfo": "hygge_core.transforms",
    "Check": "hygge_core.checks",
    "CheckConfig": "hygge_core.checks",
    "CheckOutcome": "hygge_core.checks",
    "UnitScope": "hygge_core.checks",
    "record_failures": "hygge_core.checks",
}

if TYPE_CHECKING:
    from hygge_core.arrowfs import arrow_filesystem
    from hygge_core.checks import Check, CheckConfig, CheckOutcome, UnitScope, record_failures
    from hygge_core.context import FlowContext
    from hygge_core.errors import (
        ConfigError,
        HyggeError,
        PermanentError,
        Problem,
        SchemaDriftError,
        TransientError,
        describe_error,
        first_line,
    )
    from hygge_core.executor import Executor
    from hygge_core.filecommit import FileCommitter
    from hygge_core.filestore import FileStore, FileStoreConfig
    from hygge_core.health import Finding
    from hygge_core.home import Home, HomeConfig, IncrementalConfig
    from hygge_core.memory import FlowMemory, UnitShare
    from hygge_core.paths import rebase_path
    from hygge_core.retry import is_transient
    from hygge_core.schema import drift, evolved, fill_columns
    from hygge_core.secrets import mask_url
    from hygge_core.sourceid import content_id
    from hygge_core.state import CursorState, FlowState, RunRecord
    from hygge_core.storage import ConnectionConfig, Storage
    from hygge_core.store import StagedUnit, Store, StoreConfig
    from hygge_core.transforms import RunInfo, Transform, TransformConfig
    from hygge_core.units import Window, WorkUnit


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "Check",
    "CheckConfig",
    "CheckOutcome",
    "ConfigError",
    "ConnectionConfig",
    "CursorState",
    "Executor",
    "FileCommitter",
    "FileStore",
    "FileStoreConfig",
    "Finding",
    "FlowContext",
    "FlowMemory",
    "FlowState",
    "Home",
    "HomeConfig",
    "HyggeError",
    "IncrementalConfig",
    "PermanentError",
    "Problem",
    "RunInfo",
    "RunRecord",
    "SchemaDriftError",
    "StagedUnit",
    "Storage",
    "Store",
    "StoreConfig",
    "Transform",
    "TransformConfig",
    "TransientError",
    "UnitScope",
    "UnitShare",
    "Window",
    "WorkUnit",
    "__version__",
    "arrow_filesystem",
    "content_id",
    "describe_error",
    "drift",
    "evolved",
    "fill_columns",
    "first_line",
    "hookimpl",
    "is_transient",
    "lazy_exports",
    "mask_url",
    "rebase_path",
    "record_failures",
]
