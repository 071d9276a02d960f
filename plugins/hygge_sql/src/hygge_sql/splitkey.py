"""The key a table read splits on when the flow names none: its primary key, or SQLite's rowid.

An automatic split needs a column whose ranges are cheap to find and to read: a primary key
has an index (min and max are two index probes, a range is an index range scan) and holds
each row once, so key ranges cut the table into disjoint parts that together hold every row.
"""

from __future__ import annotations

import re

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hygge_sql.config import TableName
from hygge_sql.types import Column

# SQLite's name for the integer key of every table not declared WITHOUT ROWID.
ROWID = "rowid"
ROWID_COLUMN = Column(ROWID, pa.int64())
_WITHOUT_ROWID = re.compile(r"\bWITHOUT\s+ROWID\b", re.IGNORECASE)
# Names that reach the rowid unless a column takes them.
_ROWID_NAMES = {"rowid", "_rowid_", "oid"}


def splittable(column: Column) -> bool:
    """Whether key ranges of `column` can be planned: integers, dates and timestamps."""
    arrow = column.arrow
    return not column.as_text and (
        pa.types.is_integer(arrow) or pa.types.is_timestamp(arrow) or pa.types.is_date(arrow)
    )


def primary_key(conn: Connection, dialect: str, table: TableName) -> str | None:
    """The column of the table's single-column primary key; on SQLite, failing that, the
    rowid. None for a view, a composite key or no key."""
    if dialect == "sqlite":
        return _sqlite_key(conn, table)
    inspector = sa.inspect(conn)
    found = inspector.get_pk_constraint(table.name, schema=table.schema)
    names = found.get("constrained_columns") or []
    return names[0] if len(names) == 1 else None


def _sqlite_key(conn: Connection, table: TableName) -> str | None:
    schema = table.schema or "main"
    rows = conn.execute(
        sa.text("SELECT name, pk FROM pragma_table_info(:t, :s) ORDER BY cid"),
        {"t": table.name, "s": schema},
    ).all()
    keys = [name for name, pk in rows if pk]
    if len(keys) == 1:
        return str(keys[0])
    if {str(name).lower() for name, _ in rows} & _ROWID_NAMES:
        return None  # a column of that name hides the rowid
    master = "sqlite_temp_master" if schema == "temp" else "sqlite_master"
    prefix = "" if schema == "temp" else conn.dialect.identifier_preparer.quote(schema) + "."
    found = conn.execute(
        sa.text(f"SELECT type, sql FROM {prefix}{master} WHERE name = :t"), {"t": table.name}
    ).first()
    if found is None or found[0] != "table" or _WITHOUT_ROWID.search(found[1] or ""):
        return None  # a view, or a table without rowid
    return ROWID
