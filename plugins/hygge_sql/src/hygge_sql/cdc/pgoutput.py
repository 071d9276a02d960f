"""Decoding pgoutput, PostgreSQL's built-in logical replication output (protocol version 1).

`pg_logical_slot_peek_binary_changes(..., 'proto_version', '1', 'publication_names', ...)`
returns one message per row: Begin, Relation, Insert, Update, Delete, Truncate, Commit (and
Type and Origin, which carry nothing hygge needs). Column values arrive as text, in the
reading session's DateStyle and TimeZone; the home types them afterwards.

Reference: https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
"""

from __future__ import annotations

import struct
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
class Changes:
    """Decoded row changes in commit order, one entry per change in each list.

    `rows[i]` holds the values of `relations[i]`'s columns as UTF-8 text (None: NULL); a delete
    holds the key (or, with REPLICA IDENTITY FULL, the whole old row).
    """

    ops: list[str] = field(default_factory=list)
    lsns: list[int] = field(default_factory=list)  # the transaction's commit LSN
    seqs: list[int] = field(default_factory=list)  # the place within the transaction
    commit_us: list[int] = field(default_factory=list)  # microseconds since the Unix epoch
    xids: list[int] = field(default_factory=list)
    rows: list[list[bytes | None]] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ops)


@dataclass
class Decoder:
    """Turns a slot's pgoutput messages into `Changes` of the tables in `wanted`, keeping
    the transactions that committed in (`after`, `upto`].

    `wanted` holds (schema, table) pairs; changes of other tables in the publication are
    skipped. A TRUNCATE of a wanted table cannot be expressed as row changes: it fails with
    the way out.
    """

    wanted: set[tuple[str, str]]
    after: int = -1
    upto: int = 1 << 64
    # The table's primary key, when known: with REPLICA IDENTITY FULL every column is
    # flagged as part of the identity, so the flags cannot tell a key change.
    keys: frozenset[str] | None = None
    relations: dict[int, Relation] = field(default_factory=dict)
    changes: Changes = field(default_factory=Changes)
    _lsn: int = 0
    _commit_us: int = 0
    _xid: int = 0
    _seq: int = 0
    _keep: bool = False

    def take(self) -> Changes:
        """The changes decoded so far; the decoder starts a new, empty list."""
        taken, self.changes = self.changes, Changes()
        return taken

    def decode(self, data: bytes) -> None:
        """Decode one message, adding the row changes it carries to `changes`."""
        kind = data[:1]
        if kind in (b"I", b"U", b"D"):
            if self._keep:
                self._row(kind, data)
        elif kind == b"B":
            final_lsn, commit_ts, xid = _BEGIN.unpack_from(data, 1)
            self._lsn, self._commit_us, self._xid = final_lsn, commit_ts + PG_EPOCH_US, xid
            self._seq = 0
            self._keep = self.after < final_lsn <= self.upto
        elif kind == b"C":
            self._keep = False
        elif kind == b"R":
            self._relation(data)
        elif kind == b"T" and self._keep:
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

    def _row(self, kind: bytes, data: bytes) -> None:
        (rel_id,) = _INT32.unpack_from(data, 1)
        relation = self.relations[rel_id]
        if (relation.namespace, relation.name) not in self.wanted:
            return
        pos = 5
        old: list[bytes | None] | None = None
        old_is_key = False
        if kind != b"I" and data[pos : pos + 1] in (b"K", b"O"):
            old_is_key = data[pos : pos + 1] == b"K"
            old, pos, _ = _tuple(data, pos + 1)
        if kind == b"D":
            assert old is not None
            self._add(changes.DELETE, relation, old)
            return
        if data[pos : pos + 1] != b"N":
            raise PermanentError(f"pgoutput: unexpected message layout for {relation.name}")
        new, pos, unchanged = _tuple(data, pos + 1)
        if unchanged:
            new = self._fill_unchanged(relation, new, old, old_is_key, unchanged)
        if kind == b"I":
            self._add(changes.INSERT, relation, new)
        elif old is not None and self._key_of(relation, old) != self._key_of(relation, new):
            # A change of key: the old key goes away, the new one appears (the convention).
            self._add(changes.DELETE, relation, old)
            self._add(changes.INSERT, relation, new)
        else:
            self._add(changes.UPDATE, relation, new)

    def _fill_unchanged(
        self,
        relation: Relation,
        new: list[bytes | None],
        old: list[bytes | None] | None,
        old_is_key: bool,
        unchanged: set[int],
    ) -> list[bytes | None]:
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

    def _add(self, op: str, relation: Relation, values: list[bytes | None]) -> None:
        out = self.changes
        out.ops.append(op)
        out.lsns.append(self._lsn)
        out.seqs.append(self._seq)
        out.commit_us.append(self._commit_us)
        out.xids.append(self._xid)
        out.rows.append(values)
        out.relations.append(relation)
        self._seq += 1

    def _key_of(self, relation: Relation, values: list[bytes | None]) -> list[bytes | None]:
        if self.keys:
            return [v for v, c in zip(values, relation.columns, strict=True) if c in self.keys]
        return [v for v, k in zip(values, relation.key, strict=True) if k]

    def _truncate(self, data: bytes) -> None:
        (count,) = _INT32.unpack_from(data, 1)
        ids = struct.unpack_from(f">{count}I", data, 6)
        for rel_id in ids:
            relation = self.relations.get(rel_id)
            if relation is not None and (relation.namespace, relation.name) in self.wanted:
                raise PermanentError(
                    f"table '{relation.namespace}.{relation.name}' was truncated (at LSN "
                    f"{format_lsn(self._lsn)}); a TRUNCATE is not a row change a store can "
                    "apply. Way out: hygge state reset this flow and run it again (a new "
                    "snapshot); to ignore truncates instead, create the publication WITH "
                    "(publish = 'insert, update, delete')"
                )


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\0", pos)
    return data[pos:end].decode(), end + 1


def _tuple(data: bytes, pos: int) -> tuple[list[bytes | None], int, set[int]]:
    """A TupleData: the values as UTF-8 text (None: NULL), the position after it, and the
    columns sent as unchanged. The hot loop of a run: kept to plain byte indexing."""
    count = (data[pos] << 8) | data[pos + 1]
    pos += 2
    values: list[bytes | None] = [None] * count
    unchanged: set[int] = set()
    for i in range(count):
        kind = data[pos]
        if kind == 0x74:  # 't': text
            start = pos + 5
            pos = start + int.from_bytes(data[pos + 1 : start], "big")
            values[i] = data[start:pos]
        elif kind == 0x6E:  # 'n': NULL
            pos += 1
        elif kind == 0x75:  # 'u': an unchanged TOASTed value, not sent
            pos += 1
            unchanged.add(i)
        else:
            raise PermanentError(f"pgoutput: unknown column kind {chr(kind)!r}")
    return values, pos, unchanged
