"""Registers the CSV and JSON-lines homes and stores with hygge (entry point `hygge.csv`)."""

from __future__ import annotations

from collections.abc import Callable

from hygge_core import hookimpl

# Registered by path: pyarrow.csv/json and the CSV modules load only when a flow uses them.

COMPRESSED = ("", ".gz", ".bz2", ".zst", ".lz4")
TYPES = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@hookimpl
def hygge_register_homes(register: Callable[[str, type | str], None]) -> None:
    register("csv", "hygge_csv.home:CsvHome")
    register("jsonl", "hygge_csv.home:JsonlHome")


@hookimpl
def hygge_register_stores(register: Callable[[str, type | str], None]) -> None:
    register("csv", "hygge_csv.store:CsvStore")
    register("jsonl", "hygge_csv.store:JsonlStore")


@hookimpl
def hygge_type_for_path(path: str, side: str) -> str | None:
    """`users.csv`, `users.csv.gz`, `events.tsv`, `events.jsonl`, `events.ndjson.zst`, and
    globs of them (`exports/*.csv`), on either side."""
    name = path.lower().rstrip("/")
    for suffix, type_name in TYPES.items():
        if any(name.endswith(suffix + codec) for codec in COMPRESSED):
            return type_name
    return None
