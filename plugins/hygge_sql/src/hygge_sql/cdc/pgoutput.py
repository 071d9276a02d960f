"""Decoding pgoutput, PostgreSQL's built-in logical replication output (protocol version 1).

`pg_logical_slot_peek_binary_changes(..., 'proto_version', '1', 'publication_names', ...)`
returns one message per row: Begin, Relation, Insert, Update, Delete, Truncate, Commit (and
Type and Origin, which carry nothing hygge needs). Column values arrive as text, in the
reading session's DateStyle and TimeZone; the home types them afterwards.

Reference: https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from hygge_core import PermanentError, changes

# Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
PG_EPOCH_US = 946_684_800_000_000

_BEGIN = struct.Struct(">qqI")
_COMMIT = struct.Struct(">bqqq")
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">I")


def parse_lsn(text: str) -> int:
    """`'2/F85488A0'` → its 64-bit position."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(lsn: int) -> str:
    """A 64-bit position as PostgreSQL writes it (`'2/F85488A0'`)."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


@dataclass
class Relation:
    """A table as a Relation message describes it: its columns, and which form the key."""

    namespace: str
    name: str
    columns: list[str]
    key: list[bool]
    type_oids: list[int]


@dataclass
class Change:
    """One row change, in its transaction's commit order (`lsn`, `seq`).

    `values` maps column names to their text (None: NULL); a delete holds the key (or,
    with REPLICA IDENTITY FULL, the whole old row).
    """

    op: str
    relation: Relation
    values: dict[str, str | None]
    lsn: int
    seq: int
    commit_us: int  # microseconds since the Unix epoch
    xid: int


@dataclass
class _Transaction:
    lsn: int
    commit_us: int
    xid: int
    seq: int = 0


@dataclass
class Decoder:
    """Turns a slot's pgoutput messages into `Change`s of the tables in `wanted`.

    `wanted` holds (schema, table) pairs; changes of other tables in the publication are
    skipped. A TRUNCATE of a wanted table cannot be expressed as row changes: it fails with
    the way out.
    """

    wanted: set[tuple[str, str]]
    relations: dict[int, Relation] = field(default_factory=dict)
    _txn: _Transaction | None = None

    def decode(self, data: bytes) -> Iterator[Change]:
        """The changes one message carries (none for Begin, Commit, Relation, ...)."""
        kind = data[:1]
        if kind == b"B":
            final_lsn, commit_ts, xid = _BEGIN.unpack_from(data, 1)
            self._txn = _Transaction(final_lsn, commit_ts + PG_EPOCH_US, xid)
        elif kind == b"C":
            self._txn = None
        elif kind == b"R":
            self._relation(data)
        elif kind in (b"I", b"U", b"D"):
            yield from self._row(kind, data)
        elif kind == b"T":
            self._truncate(data)
        # Y (type), O (origin), M (message): nothing to apply.

    def _relation(self, data: bytes) -> None:
        (rel_id,) = _INT32.unpack_from(data, 1)
        pos = 5
        namespace, pos = _cstring(data, pos)
        name, pos = _cstring(data, pos)
        pos += 1  # replica identity setting
        (count,) = _INT16.unpack_from(data, pos)
        pos += 2
        columns, key, oids = [], [], []
        for _ in range(count):
            flags = data[pos]
            column, pos = _cstring(data, pos + 1)
            oid, _typmod = struct.unpack_from(">Ii", data, pos)
            pos += 8
            columns.append(column)
            key.append(bool(flags & 1))
            oids.append(oid)
        self.relations[rel_id] = Relation(namespace or "public", name, columns, key, oids)

    def _row(self, kind: bytes, data: bytes) -> Iterator[Change]:
        (rel_id,) = _INT32.unpack_from(data, 1)
        relation = self.relations[rel_id]
        if (relation.namespace, relation.name) not in self.wanted:
            return
        pos = 5
        old: list[str | None] | None = None
        old_is_key = False
        unchanged: set[int] = set()
        if kind != b"I" and data[pos : pos + 1] in (b"K", b"O"):
            old_is_key = data[pos : pos + 1] == b"K"
            old, pos, _ = _tuple(data, pos + 1)
        if kind == b"D":
            assert old is not None
            yield self._change(changes.DELETE, relation, old)
            return
        if data[pos : pos + 1] != b"N":
            raise PermanentError(f"pgoutput: unexpected message layout for {relation.name}")
        new, pos, unchanged = _tuple(data, pos + 1)
        if unchanged:
            new = self._fill_unchanged(relation, new, old, old_is_key, unchanged)
        if kind == b"I":
            yield self._change(changes.INSERT, relation, new)
            return
        if old is not None and _key_of(relation, old) != _key_of(relation, new):
            # A change of key: the old key goes away, the new one appears (the convention).
            yield self._change(changes.DELETE, relation, old)
            yield self._change(changes.INSERT, relation, new)
            return
        yield self._change(changes.UPDATE, relation, new)

    def _fill_unchanged(
        self,
        relation: Relation,
        new: list[str | None],
        old: list[str | None] | None,
        old_is_key: bool,
        unchanged: set[int],
    ) -> list[str | None]:
        """An update leaves out TOASTed values it did not change: take them from the old
        row when the table logs it (REPLICA IDENTITY FULL), else say what to do."""
        if old is None or old_is_key:
            names = ", ".join(relation.columns[i] for i in sorted(unchanged))
            raise PermanentError(
                f"table '{relation.namespace}.{relation.name}': an UPDATE left large "
                f"(TOASTed) column(s) {names} unchanged, and PostgreSQL does not send "
                "unchanged large values; run ALTER TABLE "
                f"{relation.namespace}.{relation.name} REPLICA IDENTITY FULL so that it "
                "logs them, then hygge state reset the flow and run it again (a new "
                "snapshot)"
            )
        return [old[i] if i in unchanged else v for i, v in enumerate(new)]

    def _change(self, op: str, relation: Relation, values: list[str | None]) -> Change:
        txn = self._txn
        if txn is None:
            raise PermanentError("pgoutput: a row change outside a transaction")
        change = Change(
            op,
            relation,
            dict(zip(relation.columns, values, strict=True)),
            txn.lsn,
            txn.seq,
            txn.commit_us,
            txn.xid,
        )
        txn.seq += 1
        return change

    def _truncate(self, data: bytes) -> None:
        (count,) = _INT32.unpack_from(data, 1)
        ids = struct.unpack_from(f">{count}I", data, 6)
        for rel_id in ids:
            relation = self.relations.get(rel_id)
            if relation is not None and (relation.namespace, relation.name) in self.wanted:
                lsn = format_lsn(self._txn.lsn) if self._txn else "?"
                raise PermanentError(
                    f"table '{relation.namespace}.{relation.name}' was truncated (at LSN "
                    f"{lsn}); a TRUNCATE is not a row change a store can apply. Way out: "
                    "hygge state reset this flow and run it again (a new snapshot); to "
                    "ignore truncates instead, create the publication WITH (publish = "
                    "'insert, update, delete')"
                )


def _key_of(relation: Relation, values: list[str | None]) -> list[str | None]:
    return [v for v, k in zip(values, relation.key, strict=True) if k]


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\0", pos)
    return data[pos:end].decode(), end + 1


def _tuple(data: bytes, pos: int) -> tuple[list[str | None], int, set[int]]:
    """A TupleData: the values as text (None: NULL) and the columns sent as unchanged."""
    (count,) = _INT16.unpack_from(data, pos)
    pos += 2
    values: list[str | None] = []
    unchanged: set[int] = set()
    for i in range(count):
        kind = data[pos]
        pos += 1
        if kind == 0x74:  # 't': text
            (size,) = _INT32.unpack_from(data, pos)
            pos += 4
            values.append(data[pos : pos + size].decode())
            pos += size
        elif kind == 0x6E:  # 'n': NULL
            values.append(None)
        elif kind == 0x75:  # 'u': an unchanged TOASTed value, not sent
            values.append(None)
            unchanged.add(i)
        else:
            raise PermanentError(f"pgoutput: unknown column kind {chr(kind)!r}")
    return values, pos, unchanged
