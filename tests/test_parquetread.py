"""`hygge_core.files.read_buffer`, `leaf_columns` and `short_round`: how a plugin's Parquet
reader fits a unit's reader share and when it decodes on Arrow's threads."""

from __future__ import annotations

import pyarrow as pa
import pytest

from hygge_core import WorkUnit
from hygge_core.files import MIN_COLUMN_BUFFER, leaf_columns, read_buffer, short_round

MB = 1 << 20


def test_leaf_columns_count_the_leaves_of_nested_types() -> None:
    point = pa.struct([("x", pa.float64()), ("y", pa.float64())])
    types = [pa.int64(), point, pa.list_(pa.string()), pa.map_(pa.string(), point)]
    assert leaf_columns(types) == 1 + 2 + 1 + (1 + 2)
    assert leaf_columns([]) == 0


@pytest.mark.parametrize(
    ("share", "columns", "buffer", "held"),
    [
        (16 * MB, 8, 2 * MB, 16 * MB),  # the share, split among the columns
        (16 * MB, 40, MIN_COLUMN_BUFFER, 40 * MB),  # each column's minimum, counted
        (16 * MB, 0, 16 * MB, 16 * MB),  # no column named: one stream
    ],
)
def test_read_buffer_splits_the_share(share: int, columns: int, buffer: int, held: int) -> None:
    assert read_buffer(share, columns) == (buffer, held)


@pytest.mark.parametrize(
    ("count", "parallelism", "alone"),
    [(1, 2, [0]), (4, 2, []), (5, 2, [4]), (7, 4, [4, 5, 6]), (3, None, []), (3, 1, [])],
)
def test_short_round_is_the_last_round_with_idle_cores(
    count: int, parallelism: int | None, alone: list[int]
) -> None:
    units = [WorkUnit(id=f"u{i}") for i in range(count)]
    assert [u.id for u in short_round(units, parallelism)] == [f"u{i}" for i in alone]
