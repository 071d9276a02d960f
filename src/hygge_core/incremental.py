"""Incremental windows: from a flow's committed cursor to the next read's lower bound."""

from __future__ import annotations

import datetime as dt
import decimal
import re

import pyarrow as pa

from hygge_core.errors import PermanentError
from hygge_core.home import IncrementalConfig
from hygge_core.state import CursorState, FlowState, encode_cursor
from hygge_core.units import Window

_UNITS = {
    "us": "microseconds",
    "ms": "milliseconds",
    "s": "seconds",
    "sec": "seconds",
    "second": "seconds",
    "m": "minutes",
    "min": "minutes",
    "minute": "minutes",
    "h": "hours",
    "hour": "hours",
    "d": "days",
    "day": "days",
    "w": "weeks",
    "week": "weeks",
}


def parse_lookback(value: str | int | float) -> dt.timedelta | int | float:
    """`"1 hour"` → timedelta(hours=1); numbers stay numbers (for numeric cursors)."""
    if isinstance(value, int | float):
        return value
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+?)s?\s*", value)
    if not m or m.group(2).lower() not in _UNITS:
        raise PermanentError(
            f"lookback '{value}' is not a duration; write e.g. '30 minutes', '1 hour', '2 days'"
        )
    return dt.timedelta(**{_UNITS[m.group(2).lower()]: float(m.group(1))})


def window_for(config: IncrementalConfig | None, state: FlowState | None) -> Window | None:
    """The window the next run reads: after the committed cursor minus the lookback, or
    after `start` on a first load. None for a flow that is not incremental."""
    if config is None:
        return None
    if state is None or state.cursor is None:
        return Window(cursor=config.cursor, after=config.start)
    after = state.cursor.python_value()
    if config.lookback is not None:
        back = parse_lookback(config.lookback)
        if isinstance(after, dt.datetime | dt.date) and isinstance(back, dt.timedelta):
            after = after - back
        elif isinstance(after, decimal.Decimal) and isinstance(back, int | float):
            after = after - decimal.Decimal(back)
        elif isinstance(after, int | float) and isinstance(back, int | float):
            after = after - type(after)(back)
        else:
            raise PermanentError(
                f"lookback '{config.lookback}' does not fit cursor '{config.cursor}' "
                f"(value {after!r}); use a duration for time cursors, a number otherwise"
            )
    return Window(cursor=config.cursor, after=after)


def advance(state: FlowState | None, column: str, seen: list[pa.Scalar]) -> CursorState | None:
    """The cursor after a run: the highest value seen, never lower than the one before.

    With a lookback the run re-reads rows below the old cursor; taking the max keeps the
    boundary from moving backwards.
    """
    best = max(
        (s for s in seen if s is not None and s.is_valid), key=lambda s: s.as_py(), default=None
    )
    old = state.cursor if state else None
    if best is None:
        return old
    value, arrow_type = encode_cursor(best)
    if old is not None and old.python_value() >= best.as_py():
        return old
    return CursorState(column=column, value=value, arrow_type=arrow_type)


def coerce_bound(window: Window, column_type: pa.DataType) -> Window:
    """The window with `after` as the cursor column's own type (e.g. a `start:` string).

    Arrow parses the text, so '2026-01-01T00:15:00+00:00' becomes an aware timestamp for a
    timestamptz column and '2026-01-01' a date for a date column.
    """
    if window.after is None:
        return window
    try:
        scalar = pa.scalar(window.after)
        if not scalar.type.equals(column_type):
            scalar = scalar.cast(column_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise PermanentError(
            f"incremental bound {window.after!r} is not a valid {column_type} for cursor "
            f"'{window.cursor}': {exc}"
        ) from None
    return Window(cursor=window.cursor, after=scalar.as_py())
