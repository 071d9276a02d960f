"""The lag of an incremental flow: how old the newest committed cursor value is.

Shared by the Prometheus and the OpenTelemetry exports, and free of both libraries.
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def lag_seconds(cursor: Any, now: float) -> float | None:
    """Seconds between now and a time cursor's committed value; None for other cursors."""
    if isinstance(cursor, dt.datetime):
        if cursor.tzinfo is None:  # Arrow timestamps without a zone are taken as UTC
            cursor = cursor.replace(tzinfo=dt.UTC)
        return max(0.0, now - cursor.timestamp())
    if isinstance(cursor, dt.date):
        return max(
            0.0, now - dt.datetime(cursor.year, cursor.month, cursor.day, tzinfo=dt.UTC).timestamp()
        )
    return None
