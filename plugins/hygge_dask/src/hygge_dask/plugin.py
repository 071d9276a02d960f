"""Registers the Dask executor with hygge (entry point `hygge.dask`)."""

from __future__ import annotations

from collections.abc import Callable

from hygge_core import hookimpl

# Registered by path: dask and distributed load only when a run uses the dask executor.


@hookimpl
def hygge_register_executors(register: Callable[[str, type | str], None]) -> None:
    register("dask", "hygge_dask.executor:DaskExecutor")
