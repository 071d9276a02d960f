"""Reference: Parquet → Iceberg with pyiceberg's ``Table.append``, on a SQLite SQL catalog.

Usage: ``iceberg_append.py SRC.parquet OUT_DIR`` (catalog ``OUT_DIR/catalog.db``, table
``bench.t`` with its files under ``OUT_DIR``). pyiceberg appends an Arrow table in one
commit; the whole source is read first, as ``append`` takes a table, not a stream.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq
from pyiceberg.catalog.sql import SqlCatalog


def main(src: str, out_dir: str) -> None:
    """Create the table from the source's schema and append every row in one commit."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    catalog = SqlCatalog("bench", uri=f"sqlite:///{out / 'catalog.db'}", warehouse=out.as_uri())
    catalog.create_namespace_if_not_exists("bench")
    data = pq.read_table(src)
    table = catalog.create_table("bench.t", schema=data.schema)
    table.append(data)


if __name__ == "__main__":
    main(*sys.argv[1:])
