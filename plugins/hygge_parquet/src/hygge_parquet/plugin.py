"""Registers the Parquet home and store with hygge (entry point `hygge.parquet`)."""

from __future__ import annotations

from collections.abc import Callable

from hygge_core import hookimpl

# Registered by path: pyarrow.parquet loads only when a flow uses Parquet.

SUFFIXES = (".parquet", ".pq", ".parq")
GLOB = "*?["


@hookimpl
def hygge_register_homes(register: Callable[[str, type | str], None]) -> None:
    register("parquet", "hygge_parquet.home:ParquetHome")


@hookimpl
def hygge_register_stores(register: Callable[[str, type | str], None]) -> None:
    register("parquet", "hygge_parquet.store:ParquetStore")


@hookimpl(trylast=True)
def hygge_type_for_path(path: str, side: str) -> str | None:
    """`.parquet` files and globs are ours; so is any directory (a dataset or a lake
    folder), as the fallback other file plugins can override."""
    lower = path.lower()
    if lower.endswith(SUFFIXES) or (any(ch in path for ch in GLOB) and ".parquet" in lower):
        return "parquet"
    if path.endswith("/") or "." not in path.rsplit("/", 1)[-1]:
        return "parquet"
    return None
