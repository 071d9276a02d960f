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


@hookimpl
def hygge_init_snippet() -> str:
    """`hygge init`'s example: a table read incrementally, a file upserted into a table."""
    return """\
orders:                      # a table → Parquet, new rows only
  home: {type: sql, url: "sqlite:///app.db", table: orders, incremental: {cursor: updated_at}}
  store: lake/orders/
customers:                   # Parquet → a table, upserted by id
  home: data/customers.parquet
  store: {type: sql, url: "sqlite:///app.db", table: customers, mode: merge, keys: [id]}
app_tables:                  # one flow per table of the database
  entities: {query: "SELECT name FROM sqlite_master WHERE type = 'table'"}
  home: {type: sql, url: "sqlite:///app.db", table: "{entity}"}
  store: lake/app/{entity}/
"""
