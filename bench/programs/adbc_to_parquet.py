"""Reference: SQL table → Parquet with ADBC (SQLite or PostgreSQL).

``fetch_record_batch`` streams Arrow batches (PostgreSQL: binary COPY underneath); a prefetch
thread keeps the driver reading while the main thread encodes Parquet.
Usage: ``adbc_to_parquet.py sqlite|postgresql URI TABLE OUT_DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from arrowio import RowGroupWriter, prefetch


def main(driver: str, uri: str, table: str, out_dir: str) -> None:
    """Read ``SELECT * FROM table`` as a batch stream and write 1M-row row groups."""
    if driver == "sqlite":
        import adbc_driver_sqlite.dbapi as dbapi

        conn = dbapi.connect(uri)
    else:
        import adbc_driver_postgresql.dbapi as dbapi

        conn = dbapi.connect(uri)
    with conn, conn.cursor() as cur:
        if driver == "sqlite":
            # The default of 1,024 rows per batch costs a Python round trip per small batch.
            cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "65536"})
        cur.execute(f'SELECT * FROM "{table}"')
        reader = cur.fetch_record_batch()
        writer = RowGroupWriter(Path(out_dir) / "part-0.parquet")
        for batch in prefetch(reader, depth=4):
            writer.write(batch)
        writer.close(reader.schema)


if __name__ == "__main__":
    main(*sys.argv[1:])
