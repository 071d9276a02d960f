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


@hookimpl
def hygge_init_snippet() -> str:
    """`hygge init`'s example: an Iceberg table in an embedded (SQLite) catalog."""
    return """\
events_iceberg:              # Parquet → an Iceberg table in a local warehouse
  home: data/events.parquet
  store: {type: iceberg, table: lake.events, warehouse: warehouse/}
"""
