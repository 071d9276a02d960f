"""Registers the SQL home and store with hygge (entry point `hygge.sql`)."""

from __future__ import annotations

from collections.abc import Callable

from hygge_core import hookimpl

# Registered by path: SQLAlchemy loads only when a flow uses a sql home or store.


@hookimpl
def hygge_register_homes(register: Callable[[str, type | str], None]) -> None:
    register("sql", "hygge_sql.home:SqlHome")
    register("postgres_cdc", "hygge_sql.cdc.home:PostgresCdcHome")


@hookimpl
def hygge_register_stores(register: Callable[[str, type | str], None]) -> None:
    register("sql", "hygge_sql.store:SqlStore")
