"""Reference: Parquet or CSV → Parquet with DuckDB's ``COPY ... TO`` (all cores).

CSV types are auto-detected, as a DuckDB user would leave them.
Usage: ``duckdb_copy.py parquet|csv SRC OUT_DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb


def main(fmt: str, src: str, out_dir: str) -> None:
    """One ``COPY`` statement from the source scan to ``OUT_DIR/part-0.parquet``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scan = "read_parquet" if fmt == "parquet" else "read_csv"
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * FROM {scan}(?)) TO '{out / 'part-0.parquet'}' (FORMAT parquet)", [src]
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
