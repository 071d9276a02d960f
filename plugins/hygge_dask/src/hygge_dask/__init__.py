"""hygge-dask: an executor that runs the work units of hygge flows on a Dask cluster."""

from __future__ import annotations

from hygge_dask.executor import DaskExecutor, DaskOptions

__version__ = "0.1.0"

__all__ = ["DaskExecutor", "DaskOptions", "__version__"]
