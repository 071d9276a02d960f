"""Reference: Parquet → PostgreSQL with psycopg ``COPY FROM STDIN``, CSV or binary format.

A prefetch thread reads Parquet and encodes each batch (pyarrow's CSV writer, or the
vectorised binary encoder in ``pgbinary.py``) while the main thread sends the bytes.
Usage: ``psycopg_copy_pg.py csv|binary SRC.parquet DSN TABLE``.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from arrowio import prefetch
from pgbinary import COPY_HEADER, COPY_TRAILER, create_table_sql, encode_batch, quote_ident

_CSV_OPTIONS = pacsv.WriteOptions(include_header=False)


def _csv(batch: pa.RecordBatch) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(batch, buf, _CSV_OPTIONS)
    return buf.getvalue()


def main(fmt: str, src: str, dsn: str, table: str) -> None:
    """Create ``table`` and stream every row through one COPY in one transaction."""
    source = pq.ParquetFile(src)
    encode = _csv if fmt == "csv" else encode_batch

    def chunks() -> Iterator[bytes | pa.Buffer]:
        for batch in source.iter_batches(batch_size=131_072):
            yield encode(batch)

    with psycopg.connect(dsn) as conn:
        conn.execute(create_table_sql(table, source.schema_arrow))
        options = "FORMAT csv" if fmt == "csv" else "FORMAT binary"
        with conn.cursor().copy(f"COPY {quote_ident(table)} FROM STDIN ({options})") as copy:
            if fmt == "binary":
                copy.write(COPY_HEADER)
            for chunk in prefetch(chunks(), depth=4):
                copy.write(chunk)
            if fmt == "binary":
                copy.write(COPY_TRAILER)


if __name__ == "__main__":
    main(*sys.argv[1:])
