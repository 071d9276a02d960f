"""The `_hygge_state` table: one row per (flow, table), written in the data's transaction.

It lives in the target table's schema, so the state a flow reads back is always the state
its data was committed with.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection

from hygge_core import FlowState

NAME = "_hygge_state"


def state_table(schema: str | None) -> sa.Table:
    """The table's definition in `schema` (the target's)."""
    return sa.Table(
        NAME,
        sa.MetaData(),
        sa.Column("flow", sa.String(255), primary_key=True),
        sa.Column("target", sa.String(255), primary_key=True),
        sa.Column("state", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")),
        sa.Column("updated_at", sa.String(40)),  # ISO-8601 text reads the same everywhere
        schema=schema,
        mysql_charset="utf8mb4",
    )


def ensure(conn: Connection, schema: str | None) -> None:
    """Create the table if it is missing (before the data transaction, so that a concurrent
    flow creating it too cannot fail a commit)."""
    table = state_table(schema)
    try:
        table.create(conn, checkfirst=True)
    except sa.exc.DBAPIError as exc:
        # Another flow created it between the check and the CREATE. Any other failure
        # (no such schema) is the error to report: on PostgreSQL the check below would
        # only say "current transaction is aborted".
        try:
            exists = sa.inspect(conn).has_table(NAME, schema=schema)
        except sa.exc.DBAPIError:
            raise exc from None
        if not exists:
            raise


def read(conn: Connection, schema: str | None, flow: str, target: str) -> FlowState | None:
    """The committed state of `flow` writing `target`, or None."""
    if not sa.inspect(conn).has_table(NAME, schema=schema):
        return None
    table = state_table(schema)
    text = conn.execute(
        sa.select(table.c.state).where(table.c.flow == flow, table.c.target == target)
    ).scalar()
    return FlowState.model_validate_json(text) if text else None


def write(conn: Connection, schema: str | None, flow: str, target: str, state: FlowState) -> None:
    """Replace the state row, inside the caller's transaction."""
    table = state_table(schema)
    conn.execute(sa.delete(table).where(table.c.flow == flow, table.c.target == target))
    conn.execute(
        sa.insert(table).values(
            flow=flow,
            target=target,
            state=state.model_dump_json(),
            updated_at=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        )
    )


def delete(conn: Connection, schema: str | None, flow: str, target: str) -> bool:
    """Forget the state row; True if there was one."""
    if not sa.inspect(conn).has_table(NAME, schema=schema):
        return False
    table = state_table(schema)
    result = conn.execute(sa.delete(table).where(table.c.flow == flow, table.c.target == target))
    return bool(result.rowcount)
