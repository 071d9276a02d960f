"""Registers the Dask executor with hygge (entry point `hygge.dask`)."""

from __future__ import annotations

from collections.abc import Callable

from hygge_core import hookimpl
from hygge_dask.executor import DaskExecutor


@hookimpl
def hygge_register_executors(register: Callable[[str, type], None]) -> None:
    register("dask", DaskExecutor)
