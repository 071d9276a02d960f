"""Registers the Delta home and store with hygge (entry point `hygge.delta`)."""

from __future__ import annotations

from collections.abc import Callable

from hygge_core import hookimpl

# Registered by path: deltalake (a large native library) loads only when a flow uses Delta.


@hookimpl
def hygge_register_homes(register: Callable[[str, type | str], None]) -> None:
    register("delta", "hygge_delta.home:DeltaHome")


@hookimpl
def hygge_register_stores(register: Callable[[str, type | str], None]) -> None:
    register("delta", "hygge_delta.store:DeltaStore")
