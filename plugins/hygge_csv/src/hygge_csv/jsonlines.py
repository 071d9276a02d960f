"""Arrow record batches to JSON lines without a Python loop over rows.

Every column becomes an array of JSON texts through Arrow compute kernels (casts, literal
replacements for escaping), and one element-wise join glues them into lines: the bytes of
the joined string array are the file's bytes. This keeps the JSON writer on the same hot
path as the CSV writer, at millions of rows per second.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from hygge_core import PermanentError

_ESCAPES = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def unsupported(field: pa.Field) -> str | None:
    """Why JSON lines cannot carry `field`'s type exactly, or None when it can."""
    t = field.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return f"column '{field.name}' is {t}: JSON holds text only; cast it to string first"
    if pa.types.is_nested(t):
        return f"column '{field.name}' is {t}: nested types are not written to JSON lines yet"
    if pa.types.is_duration(t) or pa.types.is_interval(t):
        return f"column '{field.name}' is {t}: durations have no JSON form; cast to int64"
    return None


def encode(batch: pa.RecordBatch) -> pa.Buffer:
    """The JSON-lines bytes of `batch`: one object per row, keys in column order."""
    if batch.num_rows == 0:
        return pa.py_buffer(b"")
    if batch.num_columns == 0:
        return pa.py_buffer(b"{}\n" * batch.num_rows)
    parts: list[pa.Array | str] = []
    for i, field in enumerate(batch.schema):
        parts.append(("{" if i == 0 else ",") + json.dumps(field.name, ensure_ascii=False) + ":")
        parts.append(_texts(batch.column(i), field))
    parts.append("}\n")
    lines = pc.binary_join_element_wise(*parts, "")
    # No element is NULL, so the value bytes between the first and last offset are the lines.
    bounds = pa.Array.from_buffers(
        pa.int32(), lines.offset + len(lines) + 1, [None, lines.buffers()[1]]
    )
    first = bounds[lines.offset].as_py()
    last = bounds[lines.offset + len(lines)].as_py()
    return lines.buffers()[2].slice(first, last - first)


def _texts(column: pa.Array, field: pa.Field) -> pa.Array:
    """Each value of `column` as JSON text, `null` for NULL."""
    t = column.type
    if pa.types.is_dictionary(t):
        column, t = column.cast(t.value_type), t.value_type
    reason = unsupported(pa.field(field.name, t))
    if reason:
        raise PermanentError(reason)
    if pa.types.is_null(t):
        return pa.array(["null"] * len(column), pa.string())
    if pa.types.is_boolean(t) or pa.types.is_integer(t):
        text = column.cast(pa.string())
    elif pa.types.is_floating(t):
        if pc.any(pc.invert(pc.is_finite(column))).as_py():
            raise PermanentError(
                f"column '{field.name}' holds NaN or infinity, which JSON cannot represent"
            )
        text = column.cast(pa.string())
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        text = _quote(_escape(column.cast(pa.string())))
    elif pa.types.is_timestamp(t) and t.tz is not None:
        # One spelling for every zone: the instant in UTC with a Z, which readers parse back.
        # (Arrow stores UTC; formatting it as naive skips a slow per-value zone lookup.)
        utc = column.cast(pa.timestamp(t.unit)).cast(pa.string())
        text = pc.binary_join_element_wise('"', utc, 'Z"', "")
    else:
        # Dates, times, naive timestamps and decimals: their canonical text, as a JSON string
        # so that no reader turns a decimal into a lossy float.
        text = _quote(column.cast(pa.string()))
    return pc.fill_null(text, "null")


def _quote(text: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise('"', text, '"', "")


def _escape(text: pa.Array) -> pa.Array:
    text = pc.replace_substring(text, "\\", "\\\\")
    text = pc.replace_substring(text, '"', '\\"')
    if pc.any(pc.match_substring_regex(text, "[\\x00-\\x1f]")).as_py():
        for code in range(0x20):
            char = chr(code)
            text = pc.replace_substring(text, char, _ESCAPES.get(char, f"\\u{code:04x}"))
    return text
