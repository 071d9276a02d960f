"""The replication slot and the publication a `postgres_cdc` flow reads, through psycopg.

psycopg cannot stream the replication protocol (START_REPLICATION needs COPY BOTH), but it
can open a `replication=database` connection and create a slot that exports its snapshot;
that connection stays open, idle, while the snapshot is read. Changes are then read with
`pg_logical_slot_peek_binary_changes` (the slot does not move) and the slot is moved with
`pg_replication_slot_advance` once the store has committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hygge_core import PermanentError
from hygge_sql.cdc.pgoutput import format_lsn, parse_lsn
from hygge_sql.config import TableName


@dataclass(frozen=True)
class SlotInfo:
    """A slot as `pg_replication_slots` shows it."""

    name: str
    plugin: str | None
    confirmed: int | None  # confirmed_flush_lsn: where the next read starts
    wal_status: str | None  # reserved, extended, unreserved, lost (invalidated)
    lag_bytes: int | None  # WAL written since `confirmed`: what the slot holds back
    active: bool


def connect(uri: str, **options: Any) -> Any:
    """A psycopg connection to the libpq `uri` (autocommit), with `options` (replication)."""
    import psycopg

    return psycopg.connect(uri, autocommit=True, **options)


def slot_info(conn: Any, name: str) -> SlotInfo | None:
    """The slot named `name`, or None when there is none."""
    row = conn.execute(
        "SELECT plugin, confirmed_flush_lsn::text, wal_status, "
        "(pg_current_wal_lsn() - confirmed_flush_lsn)::bigint, active "
        "FROM pg_replication_slots WHERE slot_name = %s",
        (name,),
    ).fetchone()
    if row is None:
        return None
    plugin, confirmed, status, lag, active = row
    return SlotInfo(
        name, plugin, parse_lsn(confirmed) if confirmed else None, status, lag, bool(active)
    )


def current_lsn(conn: Any) -> int:
    """The server's WAL position now: the end of a bounded run's changes."""
    return parse_lsn(conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])


def create(uri: str, name: str) -> tuple[Any, int, str]:
    """Create logical slot `name` (pgoutput) exporting its snapshot.

    Returns the replication connection, which must stay open (and idle) for as long as the
    snapshot is read; the slot's consistent point (the snapshot sees every transaction
    committed before it, the slot streams every one after it); and the snapshot's id.
    """
    conn = connect(uri, replication="database")
    try:
        row = conn.execute(
            f"CREATE_REPLICATION_SLOT \"{name}\" LOGICAL pgoutput (SNAPSHOT 'export')"
        ).fetchone()
    except BaseException:
        conn.close()
        raise
    _slot, consistent, snapshot, _plugin = row
    return conn, parse_lsn(consistent), snapshot


def drop(conn: Any, name: str) -> None:
    """Drop slot `name` (its WAL is released)."""
    conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))


def advance(conn: Any, name: str, lsn: int) -> None:
    """Move slot `name` to `lsn`: the changes before it will not be sent again."""
    conn.execute("SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (name, format_lsn(lsn)))


def primary_key(conn: Any, table: TableName) -> list[str]:
    """The primary key columns of `table` (none: [])."""
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indisprimary AND i.indrelid = "
        "(quote_ident(%s) || '.' || quote_ident(%s))::regclass",
        (table.schema or "public", table.name),
    ).fetchall()
    return [r[0] for r in rows]


def publication_tables(conn: Any, name: str) -> list[TableName] | None:
    """The tables publication `name` publishes, or None when it does not exist."""
    if conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)).fetchone() is None:
        return None
    rows = conn.execute(
        "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s", (name,)
    ).fetchall()
    return [TableName(t, s) for s, t in rows]


def ensure_publication(conn: Any, name: str, table: TableName, where: str) -> None:
    """Check that publication `name` publishes `table`; create it FOR TABLE when missing."""
    tables = publication_tables(conn, name)
    qualified = TableName(table.name, table.schema or "public")
    if tables is None:
        conn.execute(f'CREATE PUBLICATION "{name}" FOR TABLE {_quoted(qualified)}')
        return
    if qualified not in tables:
        raise PermanentError(
            f"{where}: publication '{name}' does not publish it; run ALTER PUBLICATION "
            f"{name} ADD TABLE {qualified}, or name another publication: in the home"
        )


def _quoted(table: TableName) -> str:
    return ".".join('"' + p.replace('"', '""') + '"' for p in (table.schema, table.name) if p)
