"""Column types written as text in flows.yaml (`columns: {id: int64, paid: decimal(12, 2)}`)."""

from __future__ import annotations

import re

import pyarrow as pa

_ALIASES = {
    "int": "int64",
    "integer": "int64",
    "float": "float64",
    "double": "float64",
    "boolean": "bool",
    "str": "string",
    "text": "string",
    "date": "date32",
    "timestamp": "timestamp[us]",
    "datetime": "timestamp[us]",
}
_TIMESTAMP = re.compile(r"timestamp\[(s|ms|us|ns)(?:,\s*tz=([^\]]+))?\]")
_DECIMAL = re.compile(r"decimal(?:128)?\((\d+),\s*(\d+)\)")
EXAMPLES = (
    "int64, float64, string, bool, date32, timestamp[us], timestamp[us, tz=UTC], decimal(38, 4)"
)


def parse_type(text: str) -> pa.DataType:
    """The Arrow type named by `text`; ValueError with examples when it names none."""
    name = _ALIASES.get(text.strip().lower(), text.strip())
    if m := _TIMESTAMP.fullmatch(name):
        return pa.timestamp(m.group(1), m.group(2))
    if m := _DECIMAL.fullmatch(name):
        precision, scale = int(m.group(1)), int(m.group(2))
        return (
            pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
        )
    try:
        return pa.type_for_alias(name)
    except ValueError:
        raise ValueError(f"unknown type '{text}'; write one of {EXAMPLES}") from None


def schema_of(columns: dict[str, str]) -> pa.Schema:
    """The schema that `columns:` declares, in the order written."""
    return pa.schema([(name, parse_type(text)) for name, text in columns.items()])
