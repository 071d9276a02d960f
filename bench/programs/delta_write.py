"""Reference: Parquet → Delta with deltalake's ``write_deltalake`` (delta-rs), streaming.

Usage: ``delta_write.py SRC.parquet OUT_DIR`` (a new Delta table at ``OUT_DIR``). The
source's 1M-row batches go to delta-rs as one ``RecordBatchReader``, so the Rust writer
does all the work: the format library's own best direct write.
"""

from __future__ import annotations

import sys

import pyarrow as pa
import pyarrow.parquet as pq
from arrowio import ROW_GROUP_ROWS
from deltalake import write_deltalake


def main(src: str, out_dir: str) -> None:
    """Stream the source's batches into one Delta commit."""
    source = pq.ParquetFile(src)
    reader = pa.RecordBatchReader.from_batches(
        source.schema_arrow, source.iter_batches(batch_size=ROW_GROUP_ROWS)
    )
    write_deltalake(out_dir, reader, mode="append")


if __name__ == "__main__":
    main(*sys.argv[1:])
