"""Registers the Iceberg home and store with hygge (entry point `hygge.iceberg`)."""

from __future__ import annotations

from collections.abc import Callable

from hygge_core import hookimpl

# Registered by path: pyiceberg loads only when a flow uses Iceberg.


@hookimpl
def hygge_register_homes(register: Callable[[str, type | str], None]) -> None:
    register("iceberg", "hygge_iceberg.home:IcebergHome")


@hookimpl
def hygge_register_stores(register: Callable[[str, type | str], None]) -> None:
    register("iceberg", "hygge_iceberg.store:IcebergStore")
