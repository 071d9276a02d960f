"""hygge-dask: an executor that runs the work units of hygge flows on a Dask cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hygge_dask.executor import DaskExecutor, DaskOptions

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Imported on first use: loading the plugin (every `hygge run`) must not import dask.
    if name in ("DaskExecutor", "DaskOptions"):
        from hygge_dask import executor

        return getattr(executor, name)
    raise AttributeError(f"module 'hygge_dask' has no attribute {name!r}")


__all__ = ["DaskExecutor", "DaskOptions", "__version__"]
