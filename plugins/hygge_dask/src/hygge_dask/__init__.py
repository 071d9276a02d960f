"""hygge-dask: an executor that runs the work units of hygge flows on a Dask cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hygge_core import lazy_exports

if TYPE_CHECKING:
    from hygge_dask.executor import DaskExecutor, DaskOptions

__version__ = "0.1.0"


# Imported on first use: loading the plugin (every `hygge run`) must not import dask.
__getattr__ = lazy_exports(
    __name__, {"DaskExecutor": "hygge_dask.executor", "DaskOptions": "hygge_dask.executor"}
)


__all__ = ["DaskExecutor", "DaskOptions", "__version__"]
