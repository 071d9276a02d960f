"""Reference: Parquet → Parquet with pyarrow ``iter_batches`` → ``ParquetWriter``.

Usage: ``pyarrow_parquet.py SRC.parquet OUT_DIR`` (writes ``OUT_DIR/part-0.parquet``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq
from arrowio import ROW_GROUP_ROWS


def main(src: str, out_dir: str) -> None:
    """Stream the source's batches into a writer, keeping the 1M-row row groups."""
    source = pq.ParquetFile(src)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(out / "part-0.parquet", source.schema_arrow) as writer:
        for batch in source.iter_batches(batch_size=ROW_GROUP_ROWS):
            writer.write_batch(batch, row_group_size=ROW_GROUP_ROWS)


if __name__ == "__main__":
    main(*sys.argv[1:])
