"""Change logs: the convention by which a home sends inserts, updates and deletes to a store.

A home that captures changes (hygge-sql's `postgres_cdc`) yields one row per change: the
table's columns plus

- `_op` (string): `insert`, `update` or `delete`. A delete carries the key columns (other
  columns may be null); a change of key arrives as a delete of the old key followed by an
  insert of the new one.
- `_lsn` (int64): where the change's transaction committed in the source's log; it grows
  with commit order.
- `_seq` (int64): the change's place within its transaction.

Changes apply in `(_lsn, _seq)` order. A store in `mode: merge` that understands the
convention (it sees `_op` among the columns) applies a run's changes within its one commit:
for every key changed in the run only the last change counts; a key whose last change is a
delete is removed, any other key gets the last change's row. A store in `mode: append`
simply lands the change log. See docs/plugins/store.md ("Change logs").
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "DELETE",
    "INSERT",
    "OP",
    "OPS",
    "ORDER",
    "UPDATE",
    "is_change_log",
    "latest_changes",
]

OP = "_op"
"""The column naming a change's operation."""
INSERT, UPDATE, DELETE = "insert", "update", "delete"
OPS = (INSERT, UPDATE, DELETE)
ORDER = ("_lsn", "_seq")
"""The columns that order changes: ascending, the last change of a key wins."""


def is_change_log(schema: pa.Schema) -> bool:
    """Whether rows of `schema` are changes under this convention (they carry `_op`)."""
    return OP in schema.names


def latest_changes(changes: pa.Table, keys: list[str]) -> pa.Table:
    """The last change of each key, in `ORDER`, deletes included: what a merge applies.

    For stores that merge in Arrow (a table format's merge); a SQL store does the same in
    SQL. The rows come out in change order.
    """
    missing = [c for c in (OP, *ORDER, *keys) if c not in changes.column_names]
    if missing:
        raise ValueError(f"a change log needs column(s) {', '.join(missing)}")
    if not changes.num_rows:
        return changes
    position = "__hygge_position"
    ordered = changes.sort_by([(c, "ascending") for c in ORDER])
    ordered = ordered.append_column(position, pa.array(range(ordered.num_rows), pa.int64()))
    # The highest position per key is its last change (ordered by ORDER above).
    last = ordered.group_by(keys, use_threads=False).aggregate([(position, "max")])
    chosen = pc.sort_indices(last.column(f"{position}_max"))
    picks = pc.take(last.column(f"{position}_max"), chosen)
    return ordered.take(picks).drop_columns([position])
