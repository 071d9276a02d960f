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


@hookimpl
def hygge_init_snippet() -> str:
    """`hygge init`'s example: a Delta table written exactly once, upserted by key."""
    return """\
events_delta:                # Parquet → a Delta table, upserted by id
  home: data/events.parquet
  store: {type: delta, path: lake/events_delta/, mode: merge, keys: [id]}
"""
