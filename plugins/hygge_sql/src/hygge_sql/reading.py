"""The SELECT a home runs: its source, its columns, its window and its key range.

Identifiers are quoted by SQLAlchemy and values are bound parameters; the only SQL text taken
from the config is a `query:` the user wrote (which is the point of `query:`).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from hygge_core import PermanentError, Window
from hygge_sql.backends import Binds
from hygge_sql.backends.base import query_text
from hygge_sql.config import TableName
from hygge_sql.types import Column


def user_query(query: str) -> sa.TextClause:
    """The user's SELECT as a text clause (see `query_text`)."""
    return sa.text(query_text(query))


def source(table: TableName | None, query: str | None, names: list[str]) -> sa.FromClause:
    """What the SELECT reads from: the table, or the user's query as a subquery."""
    columns: list[sa.ColumnClause[Any]] = [sa.column(n) for n in names]
    if table is not None:
        return sa.table(table.name, *columns, schema=table.schema)
    assert query is not None
    return user_query(query).columns(*columns).subquery("hygge_q")


def window_condition(
    src: sa.FromClause, window: Window | None, columns: dict[str, Column], binds: Binds
) -> sa.ColumnElement[bool] | None:
    """`cursor > :after`, strictly: the last committed cursor value was already read."""
    if window is None or window.after is None:
        return None
    column = columns[window.cursor]
    return src.c[window.cursor] > binds(window.after, column.arrow)


def range_condition(
    src: sa.FromClause, payload: dict[str, Any], columns: dict[str, Column], binds: Binds
) -> sa.ColumnElement[bool] | None:
    """`lo <= key < hi` for one unit of a split read; the first unit also takes NULL keys
    and the first and last are open-ended, so rows outside the planned min..max are read."""
    name = payload.get("split")
    if name is None:
        return None
    column, key = columns[name], src.c[name]
    parts = []
    if payload.get("lo") is not None:
        parts.append(key >= binds(payload["lo"], column.arrow))
    if payload.get("hi") is not None:
        parts.append(key < binds(payload["hi"], column.arrow))
    condition = sa.and_(*parts) if parts else None
    if payload.get("nulls"):
        condition = key.is_(None) if condition is None else sa.or_(condition, key.is_(None))
    return condition


def ceiling_condition(
    src: sa.FromClause, payload: dict[str, Any], columns: dict[str, Column], binds: Binds
) -> sa.ColumnElement[bool] | None:
    """`cursor <= :upto` (or NULL) for the units of a split incremental read: the cursor's
    maximum when the plan was made, so that every unit reads the same window."""
    name = payload.get("cursor")
    if name is None:
        return None
    key = src.c[name]
    return sa.or_(key <= binds(payload["upto"], columns[name].arrow), key.is_(None))


def split_points(low: Any, high: Any, units: int, arrow: pa.DataType) -> list[Any]:
    """Up to `units - 1` increasing values that cut [low, high] into ranges of equal width."""
    if pa.types.is_integer(arrow):
        a, b = int(low), int(high)
        back = None
    elif pa.types.is_timestamp(arrow) or pa.types.is_date(arrow):
        storage = pa.int64() if pa.types.is_timestamp(arrow) or arrow == pa.date64() else pa.int32()
        a, b = pa.array([low, high], type=arrow).cast(storage).to_pylist()
        back = storage
    else:
        raise PermanentError(
            f"split column has type {arrow}; split on an integer, date or timestamp column"
        )
    span = b - a + 1
    n = max(1, min(units, span))
    points = sorted({a + span * k // n for k in range(1, n)})
    if back is None:
        return points
    return pa.array(points, type=back).cast(arrow).to_pylist()
