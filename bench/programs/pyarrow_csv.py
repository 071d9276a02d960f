"""Reference: CSV → Parquet with pyarrow ``open_csv`` (streaming) → ``ParquetWriter``.

Column types are given, as a user who knows the file would; the CSV reader parses blocks on
several threads. Usage: ``pyarrow_csv.py SRC.csv OUT_DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
from arrowio import RowGroupWriter

TYPES = {
    "id": pa.int64(),
    "customer_id": pa.int64(),
    "amount": pa.float64(),
    "quantity": pa.int32(),
    "is_active": pa.bool_(),
    "category": pa.string(),
    "comment": pa.string(),
    "created_at": pa.timestamp("us"),
    "event_date": pa.date32(),
}


def main(src: str, out_dir: str) -> None:
    """Parse 8 MiB blocks and gather them into 1M-row row groups."""
    reader = pacsv.open_csv(
        src,
        read_options=pacsv.ReadOptions(block_size=8 << 20),
        convert_options=pacsv.ConvertOptions(column_types=TYPES),
    )
    writer = RowGroupWriter(Path(out_dir) / "part-0.parquet")
    for batch in reader:
        writer.write(batch)
    writer.close(reader.schema)


if __name__ == "__main__":
    main(*sys.argv[1:])
