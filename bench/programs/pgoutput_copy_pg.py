"""Reference: a replication slot's changes → a PostgreSQL merge target, by hand.

What a skilled user writes with psycopg alone: `pg_logical_slot_get_binary_changes` (which
consumes the slot as it reads), a small pgoutput decoder that keeps the last change of each
key in a dict, then one transaction: COPY the surviving rows (pgoutput's text values go into
COPY's text format as they are, no typing in Python) into a temporary table, DELETE every
changed key from the target, INSERT the rows that are not deletes.
Usage: ``pgoutput_copy_pg.py DSN SLOT PUBLICATION SOURCE_TABLE TARGET_TABLE KEY``.
"""

from __future__ import annotations

import struct
import sys

import psycopg


def text_tuple(data: bytes, pos: int) -> tuple[list[str | None], int]:
    (count,) = struct.unpack_from(">h", data, pos)
    pos += 2
    values: list[str | None] = []
    for _ in range(count):
        kind = data[pos]
        pos += 1
        if kind == 0x74:  # text
            (size,) = struct.unpack_from(">I", data, pos)
            values.append(data[pos + 4 : pos + 4 + size].decode())
            pos += 4 + size
        else:  # NULL (unchanged TOAST does not occur in this workload)
            values.append(None)
    return values, pos


def escape(value: str | None) -> str:
    if value is None:
        return "\\N"
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def main(dsn: str, slot: str, publication: str, source: str, target: str, key: str) -> None:
    latest: dict[str, list[str | None] | None] = {}  # key text → row, None for a delete
    columns: list[str] = []
    key_index = 0
    with psycopg.connect(dsn) as conn:
        cursor = conn.cursor(name="changes")
        cursor.itersize = 10_000
        cursor.execute(
            "SELECT data FROM pg_logical_slot_get_binary_changes(%s, NULL, NULL, "
            "'proto_version', '1', 'publication_names', %s)",
            (slot, publication),
        )
        for (raw,) in cursor:
            data = bytes(raw)
            kind = data[:1]
            if kind == b"R":
                pos = 5
                pos = data.index(b"\0", pos) + 1
                name_end = data.index(b"\0", pos)
                if data[pos:name_end].decode() != source:
                    continue
                pos = name_end + 2
                (count,) = struct.unpack_from(">h", data, pos)
                pos += 2
                columns = []
                for _ in range(count):
                    end = data.index(b"\0", pos + 1)
                    columns.append(data[pos + 1 : end].decode())
                    pos = end + 1 + 8
                key_index = columns.index(key)
            elif kind == b"I" or kind == b"U":
                pos = 5
                if kind == b"U" and data[pos : pos + 1] in (b"K", b"O"):
                    old, pos = text_tuple(data, pos + 1)
                    latest[old[key_index]] = None  # type: ignore[index]
                row, _ = text_tuple(data, pos + 1)
                latest[row[key_index]] = row  # type: ignore[index]
            elif kind == b"D":
                old, _ = text_tuple(data, 6)
                latest[old[key_index]] = None  # type: ignore[index]
        cursor.close()
        names = ", ".join(f'"{c}"' for c in columns)
        conn.execute(f"CREATE TEMP TABLE changed (LIKE {target}) ON COMMIT DROP")
        conn.execute(f"CREATE TEMP TABLE gone ON COMMIT DROP AS SELECT {key} FROM {target} LIMIT 0")
        with conn.cursor().copy(f"COPY changed ({names}) FROM STDIN") as copy:
            lines = []
            for row in latest.values():
                if row is not None:
                    lines.append("\t".join(escape(v) for v in row) + "\n")
                    if len(lines) >= 10_000:
                        copy.write("".join(lines))
                        lines = []
            copy.write("".join(lines))
        with conn.cursor().copy(f"COPY gone ({key}) FROM STDIN") as copy:
            copy.write("".join(f"{escape(k)}\n" for k in latest))
        conn.execute(f"DELETE FROM {target} t USING gone g WHERE t.{key} = g.{key}")
        conn.execute(f"INSERT INTO {target} ({names}) SELECT {names} FROM changed")


if __name__ == "__main__":
    main(*sys.argv[1:])
