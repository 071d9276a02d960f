"""Registers the CSV and JSON-lines homes and stores with hygge (entry point `hygge.csv`)."""

from __future__ import annotations

from collections.abc import Callable

from hygge_core import hookimpl
from hygge_csv.home import CsvHome, JsonlHome
from hygge_csv.store import CsvStore, JsonlStore

COMPRESSED = ("", ".gz", ".bz2", ".zst", ".lz4")
TYPES = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@hookimpl
def hygge_register_homes(register: Callable[[str, type], None]) -> None:
    register("csv", CsvHome)
    register("jsonl", JsonlHome)


@hookimpl
def hygge_register_stores(register: Callable[[str, type], None]) -> None:
    register("csv", CsvStore)
    register("jsonl", JsonlStore)


@hookimpl
def hygge_type_for_path(path: str, side: str) -> str | None:
    """`users.csv`, `users.csv.gz`, `events.tsv`, `events.jsonl`, `events.ndjson.zst`, and
    globs of them (`exports/*.csv`), on either side."""
    name = path.lower().rstrip("/")
    for suffix, type_name in TYPES.items():
        if any(name.endswith(suffix + codec) for codec in COMPRESSED):
            return type_name
    return None
