"""Reference: PostgreSQL → PostgreSQL with ADBC: ``fetch_record_batch`` → ``adbc_ingest``.

The read side runs in a prefetch thread, so reading the source COPY overlaps with writing the
target COPY. Usage: ``adbc_pg_to_pg.py DSN SRC_TABLE DST_TABLE``.
"""

from __future__ import annotations

import sys

import adbc_driver_postgresql.dbapi as pg
import pyarrow as pa
from arrowio import prefetch


def main(dsn: str, src: str, dst: str) -> None:
    """Stream ``SELECT * FROM src`` into a new table ``dst`` in one transaction."""
    with pg.connect(dsn) as read_conn, pg.connect(dsn) as write_conn:
        with read_conn.cursor() as rcur, write_conn.cursor() as wcur:
            rcur.execute(f'SELECT * FROM "{src}"')
            reader = rcur.fetch_record_batch()
            stream = pa.RecordBatchReader.from_batches(reader.schema, prefetch(reader, depth=4))
            wcur.adbc_ingest(dst, stream, mode="create")
        write_conn.commit()


if __name__ == "__main__":
    main(*sys.argv[1:])
