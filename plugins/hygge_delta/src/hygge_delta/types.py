"""Arrow types as a Delta table can hold them.

Delta has no unsigned integers, no time-of-day, no half floats, one time zone (UTC) and one
timestamp unit (microseconds). Each Arrow type hygge may receive is mapped to the Delta type
that holds every value exactly, or refused with the column named; values are converted with
safe casts, so a value that would change (a nanosecond, a uint64 above 2**63) fails the run
instead of landing altered.
"""

from __future__ import annotations

import pyarrow as pa

from hygge_core import PermanentError

_WIDER = {
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): pa.int64(),  # safe cast: a value above 2**63-1 fails the run, named
    pa.float16(): pa.float32(),
}


def delta_type(t: pa.DataType, column: str) -> pa.DataType:
    """The Arrow type the Delta table stores for a column of type `t`."""
    if t in _WIDER:
        return _WIDER[t]
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", "UTC" if t.tz else None)
    if pa.types.is_dictionary(t):
        return delta_type(t.value_type, column)
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(delta_type(f.type, f"{column}.{f.name}")) for f in t])
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        item = t.value_field
        return pa.list_(item.with_type(delta_type(item.type, f"{column}[]")))
    if pa.types.is_map(t):
        return pa.map_(
            delta_type(t.key_type, f"{column}.key"), delta_type(t.item_type, f"{column}.value")
        )
    if (
        pa.types.is_time(t)
        or pa.types.is_duration(t)
        or pa.types.is_interval(t)
        or pa.types.is_null(t)
        or pa.types.is_decimal256(t)
    ):
        raise PermanentError(
            f"column '{column}' has type {t}, which a Delta table cannot hold; "
            "cast it in the home (e.g. a SQL query) or drop it with columns:"
        )
    return t


def delta_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with every column's type as the Delta table stores it (no metadata)."""
    return pa.schema([f.with_type(delta_type(f.type, f.name)) for f in schema]).remove_metadata()
