"""Registers the SQL home and store with hygge (entry point `hygge.sql`)."""

from __future__ import annotations

from collections.abc import Callable

from hygge_core import hookimpl
from hygge_sql.home import SqlHome
from hygge_sql.store import SqlStore


@hookimpl
def hygge_register_homes(register: Callable[[str, type], None]) -> None:
    register("sql", SqlHome)


@hookimpl
def hygge_register_stores(register: Callable[[str, type], None]) -> None:
    register("sql", SqlStore)
