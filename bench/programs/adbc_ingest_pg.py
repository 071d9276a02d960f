"""Reference: Parquet → PostgreSQL with ADBC ``adbc_ingest`` (binary COPY underneath).

``table`` mode reads the whole file first (fastest, most memory); ``stream`` mode hands the
driver a RecordBatchReader over the file, so memory stays at a few batches.
Usage: ``adbc_ingest_pg.py table|stream SRC.parquet DSN TABLE``.
"""

from __future__ import annotations

import sys

import adbc_driver_postgresql.dbapi as pg
import pyarrow as pa
import pyarrow.parquet as pq
from arrowio import prefetch


def main(mode: str, src: str, dsn: str, table: str) -> None:
    """Create ``table`` from the Parquet schema and load every row in one transaction."""
    if mode == "table":
        data: pa.Table | pa.RecordBatchReader = pq.read_table(src)
    else:
        source = pq.ParquetFile(src)
        batches = prefetch(source.iter_batches(batch_size=131_072), depth=4)
        data = pa.RecordBatchReader.from_batches(source.schema_arrow, batches)
    with pg.connect(dsn) as conn, conn.cursor() as cur:
        cur.adbc_ingest(table, data, mode="create")
        conn.commit()


if __name__ == "__main__":
    main(*sys.argv[1:])
