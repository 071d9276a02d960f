"""Reference: Parquet or CSV → Parquet with polars' streaming engine.

``scan_parquet().sink_parquet()`` (or ``scan_csv``, with dates parsed) never holds the whole
table. Usage: ``polars_copy.py parquet|csv SRC OUT_DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl


def main(fmt: str, src: str, out_dir: str) -> None:
    """Sink the scanned source into ``OUT_DIR/part-0.parquet``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scan = pl.scan_parquet(src) if fmt == "parquet" else pl.scan_csv(src, try_parse_dates=True)
    scan.sink_parquet(out / "part-0.parquet")


if __name__ == "__main__":
    main(*sys.argv[1:])
