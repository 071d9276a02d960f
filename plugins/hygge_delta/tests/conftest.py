"""Fixtures hygge-delta's tests share."""

from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa
import pytest


@pytest.fixture
def every_type() -> pa.Table:
    """Every column type the round trips cover (locally and on each cloud), NULLs in each."""
    instant = dt.datetime(2024, 3, 31, 1, 30, 0, 123456, tzinfo=dt.UTC)
    return pa.table(
        {
            "id": pa.array([1, 2, None], pa.int64()),
            "d": pa.array(
                [
                    decimal.Decimal("12345678901234567890123456789.123456789"),
                    None,
                    decimal.Decimal("-1.000000001"),
                ],
                pa.decimal128(38, 9),
            ),
            "ts": pa.array([instant, None, instant], pa.timestamp("us", "UTC")),
            "naive": pa.array(
                [dt.datetime(2020, 1, 1, 0, 0, 0, 1), None, None], pa.timestamp("us")
            ),
            "day": pa.array([dt.date(1999, 12, 31), None, dt.date(2000, 2, 29)]),
            "raw": pa.array([b"\x00\xff", None, b""], pa.binary()),
            "text": pa.array(["ø", None, ""], pa.string()),
            "s": pa.array(
                [{"a": 1, "b": "x"}, None, {"a": None, "b": None}],
                pa.struct([("a", pa.int32()), ("b", pa.string())]),
            ),
            "l": pa.array([[1, 2], None, []], pa.list_(pa.int64())),
        }
    )
