"""`columns:` type names, as JSON APIs need them: numbers, text, flags, times, decimals."""

from __future__ import annotations

import pyarrow as pa

# JSON has no time or decimal type: these arrive as text and are parsed (ISO 8601).
_NAMES = {
    "int": pa.int64(),
    "integer": pa.int64(),
    "float": pa.float64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "text": pa.string(),
    "str": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamp_tz": pa.timestamp("us", tz="UTC"),
}


def parse_type(text: str) -> pa.DataType:
    """The Arrow type `text` names: the names above, or Arrow's own (int32, date32,
    timestamp[ms], decimal128(12, 2)...)."""
    name = text.strip().lower()
    if name in _NAMES:
        return _NAMES[name]
    if name.startswith("decimal") and name.endswith(")"):
        digits = name[name.index("(") + 1 : -1].split(",")
        if len(digits) == 2 and all(d.strip().isdigit() for d in digits):
            return pa.decimal128(int(digits[0]), int(digits[1]))
    try:
        return pa.type_for_alias(name)
    except ValueError:
        raise ValueError(
            f"unknown type '{text}'; write one of int64, float64, string, bool, date, "
            "timestamp, timestamp_tz, decimal(38, 4)"
        ) from None
