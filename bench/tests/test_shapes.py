"""The table shapes: deterministic, checksummed with columns taken from their own schema, and
the checksum still notices a changed value in any column."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "programs"))

import shapes  # noqa: E402
import verify  # noqa: E402


@pytest.mark.parametrize("name", sorted(shapes.SHAPES))
def test_shape_is_deterministic_and_every_column_counts(name: str) -> None:
    shape = shapes.SHAPES[name]
    batch = shape.make(1, 2000)
    assert batch.equals(shape.make(1, 2000))
    columns = verify.columns_of(batch.schema)
    base = verify.digest_batches([batch], columns)
    assert base.rows == 2000
    # Same rows in another order and as large_string: same checksum.
    table = pa.Table.from_batches([batch])
    shuffled = table.take(pa.array(range(1999, -1, -1)))
    assert verify.digest_batches(shuffled.to_batches(500), columns) == base
    for i, column in enumerate(batch.columns):
        changed = column.take(pa.array([1, *range(1, 2000)]))  # row 0 takes row 1's value
        if pc.all(pc.equal(changed, column)).as_py():
            continue
        other = batch.set_column(i, batch.schema.field(i), changed)
        assert verify.digest_batches([other], columns) != base, batch.schema.names[i]


def test_shapes_are_what_their_names_say() -> None:
    narrow = shapes.SHAPES["narrow_numeric"].make(0, 1000)
    assert all(
        pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_timestamp(t)
        for t in narrow.schema.types
    )
    wide = shapes.SHAPES["wide_strings"].make(0, 5000)
    texts = [
        c for c, t in zip(wide.columns, wide.schema.types, strict=True) if pa.types.is_string(t)
    ]
    assert len(texts) == 8
    assert all(pc.count_distinct(c).as_py() == 5000 for c in texts)  # high cardinality
    assert shapes.SHAPES["small_row_groups"].row_group_rows == 10_000
