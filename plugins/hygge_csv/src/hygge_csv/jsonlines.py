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
    if pa.types.is_map(t):
        if not (pa.types.is_string(t.key_type) or pa.types.is_large_string(t.key_type)):
            return f"column '{field.name}' is {t}: JSON object keys are text; cast the keys"
        return unsupported(pa.field(field.name, t.item_type))
    if _is_list(t):
        return unsupported(pa.field(field.name, t.value_type))
    if pa.types.is_struct(t):
        return next(filter(None, (unsupported(pa.field(field.name, c.type)) for c in t)), None)
    if pa.types.is_nested(t):  # unions, list views
        return f"column '{field.name}' is {t}: it has no JSON form here; cast it first"
    if pa.types.is_duration(t) or pa.types.is_interval(t):
        return f"column '{field.name}' is {t}: durations have no JSON form; cast to int64"
    return None


def encode(batch: pa.RecordBatch) -> pa.Buffer:
    """The JSON-lines bytes of `batch`: one object per row, keys in column order."""
    if batch.num_rows == 0:
        return pa.py_buffer(b"")
    if batch.num_columns == 0:
        return pa.py_buffer(b"{}\n" * batch.num_rows)
    lines = _members(batch.schema.names, batch.columns, list(batch.schema), "}\n")
    # No element is NULL, so the value bytes between the first and last offset are the lines.
    bounds = pa.Array.from_buffers(
        pa.int32(), lines.offset + len(lines) + 1, [None, lines.buffers()[1]]
    )
    first = bounds[lines.offset].as_py()
    last = bounds[lines.offset + len(lines)].as_py()
    return lines.buffers()[2].slice(first, last - first)


def _members(
    names: list[str], columns: list[pa.Array], fields: list[pa.Field], end: str
) -> pa.Array:
    """Per row, a JSON object of `columns` under `names`, then `end`. `fields` name the
    columns in error messages (for a struct's members: the column the struct is in)."""
    parts: list[pa.Array | str] = []
    for i, (name, column, field) in enumerate(zip(names, columns, fields, strict=True)):
        parts.append(("{" if i == 0 else ",") + json.dumps(name, ensure_ascii=False) + ":")
        parts.append(_texts(column, field))
    parts.append(end)
    return pc.binary_join_element_wise(*parts, "")


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
    elif pa.types.is_struct(t):
        text = _object(column, field)
    elif pa.types.is_map(t):
        text = _map(column, field)
    elif _is_list(t):
        text = _array(column, field)
    else:
        # Dates, times, naive timestamps and decimals: their canonical text, as a JSON string
        # so that no reader turns a decimal into a lossy float.
        text = _quote(column.cast(pa.string()))
    return pc.fill_null(text, "null")


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _object(column: pa.StructArray, field: pa.Field) -> pa.Array:
    """Structs as JSON objects, members in field order; NULL where the struct is."""
    members = list(column.type)
    if members:
        values = [pc.struct_field(column, [i]) for i in range(len(members))]
        inner = [pa.field(field.name, m.type) for m in members]
        text = _members([m.name for m in members], values, inner, "}")
    else:
        text = pa.array(["{}"] * len(column), pa.string())
    return pc.if_else(column.is_null(), pa.scalar(None, pa.string()), text)


def _entries(column: pa.Array) -> tuple[pa.Array, int, int]:
    """A list or map array's offsets counted from 0, and the range of its child values
    they cover (a sliced array's offsets point into its parent's whole child array)."""
    offsets = column.offsets
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    return pc.subtract(offsets, pa.scalar(start, offsets.type)), start, end - start


def _joined(column: pa.Array, texts: pa.Array, offsets: pa.Array, ends: str) -> pa.Array:
    """Per list of `column`, its `texts` joined by commas between the two `ends`."""
    lists = pa.ListArray.from_arrays(offsets, texts, mask=column.is_null())
    return pc.binary_join_element_wise(ends[0], pc.binary_join(lists, ","), ends[1], "")


def _array(column: pa.Array, field: pa.Field) -> pa.Array:
    """Lists (large and fixed-size too) as JSON arrays."""
    if not pa.types.is_list(column.type):
        column = column.cast(pa.list_(column.type.value_type))
    offsets, start, length = _entries(column)
    inner = pa.field(field.name, column.type.value_type)
    return _joined(column, _texts(column.values.slice(start, length), inner), offsets, "[]")


def _map(column: pa.MapArray, field: pa.Field) -> pa.Array:
    """Maps (text keys) as JSON objects, entries in their order."""
    offsets, start, length = _entries(column)
    keys = _quote(_escape(column.keys.slice(start, length).cast(pa.string())))
    inner = pa.field(field.name, column.type.item_type)
    items = _texts(column.items.slice(start, length), inner)
    return _joined(column, pc.binary_join_element_wise(keys, ":", items, ""), offsets, "{}")


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
