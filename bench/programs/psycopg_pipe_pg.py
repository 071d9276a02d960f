"""Reference: PostgreSQL → PostgreSQL with psycopg, piping binary COPY out into COPY in.

No decoding at all: the bytes of ``COPY src TO STDOUT (FORMAT binary)`` are fed unchanged to
``COPY dst FROM STDIN (FORMAT binary)``. A reader thread gathers the per-row messages into
1 MiB chunks while the main thread writes.
Usage: ``psycopg_pipe_pg.py DSN SRC_TABLE DST_TABLE``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import psycopg
from arrowio import prefetch
from pgbinary import quote_ident

_CHUNK = 1 << 20


def main(dsn: str, src: str, dst: str) -> None:
    """Create ``dst`` with the columns of ``src`` and copy every row in one transaction."""
    with psycopg.connect(dsn) as read_conn, psycopg.connect(dsn) as write_conn:

        def chunks() -> Iterator[bytes]:
            buf = bytearray()
            with read_conn.cursor().copy(
                f"COPY {quote_ident(src)} TO STDOUT (FORMAT binary)"
            ) as copy:
                for data in copy:
                    buf += data
                    if len(buf) >= _CHUNK:
                        yield bytes(buf)
                        buf.clear()
            if buf:
                yield bytes(buf)

        write_conn.execute(f"CREATE TABLE {quote_ident(dst)} (LIKE {quote_ident(src)})")
        with write_conn.cursor().copy(
            f"COPY {quote_ident(dst)} FROM STDIN (FORMAT binary)"
        ) as copy:
            for chunk in prefetch(chunks(), depth=4):
                copy.write(chunk)


if __name__ == "__main__":
    main(*sys.argv[1:])
