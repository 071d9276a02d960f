"""A page's JSON records as an Arrow record batch of the flow's columns.

JSON has numbers, text, flags, lists and objects; times, dates and decimals arrive as text
and are parsed (ISO 8601). A value that does not fit its column fails the flow with the
page, the record, the field and the value: a guess would land wrong data silently.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from hygge_core import PermanentError

_PARSED = (pa.types.is_timestamp, pa.types.is_date, pa.types.is_decimal, pa.types.is_time)


def _parsed(t: pa.DataType) -> bool:
    return any(test(t) for test in _PARSED)


def infer(records: list[Any], where: str) -> pa.Schema:
    """The columns of the first page's records: every field, types as Arrow infers them
    (a field that is null throughout becomes a string)."""
    _objects(records, where)
    try:
        schema = pa.Table.from_pylist(records).schema
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise PermanentError(
            f"{where}: cannot infer the columns ({exc}); declare them in columns:"
        ) from None
    return pa.schema(
        [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in schema]
    )


def _objects(records: list[Any], where: str) -> None:
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise PermanentError(
                f"{where}: record {i + 1} is {type(record).__name__} {_show(record)}, not an "
                "object; point records: at the list of objects"
            )


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Columns:
    """Converts pages to batches of one schema; `source` says where the types came from."""

    def __init__(self, schema: pa.Schema, source: str, closed: bool = False) -> None:
        self.schema = schema
        self.source = source
        # Inferred columns are closed: a field they lack fails the flow rather than being
        # left out unseen. Declared ones keep what they list and leave the rest out.
        self.closed = closed
        self.names = frozenset(schema.names)
        self.wire = pa.schema(
            [pa.field(f.name, pa.string()) if _parsed(f.type) else f for f in schema]
        )

    def batch(self, records: list[Any], where: str) -> pa.RecordBatch:
        """`records` (a list of objects) as a batch of the schema; extra fields are left out."""
        try:
            wire = pa.RecordBatch.from_pylist(records, schema=self.wire)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            _objects(records, where)
            raise PermanentError(self._explain(records, where)) from None
        if self.closed:
            self._no_new_fields(records, where)
        arrays = list(wire.columns)
        for i, field in enumerate(self.schema):
            if _parsed(field.type):
                try:
                    arrays[i] = arrays[i].cast(field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    raise PermanentError(self._explain(records, where, field)) from None
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _no_new_fields(self, records: list[Any], where: str) -> None:
        new = set().union(*records) - self.names if records else set()
        if not new:
            return
        name = sorted(new)[0]
        n, value = next((n, r[name]) for n, r in enumerate(records) if name in r)
        raise PermanentError(
            f"{where}: record {n + 1} has field '{name}' ({_show(value)}), which is not among "
            f"the columns ({self.source}); list the fields to keep in columns: "
            "(fields not listed there are left out)"
        )

    def _explain(self, records: list[Any], where: str, only: pa.Field | None = None) -> str:
        """Which record and field did not fit, found by converting one value at a time."""
        for field in [only] if only else list(self.schema):
            wire = self.wire.field(field.name).type
            for n, record in enumerate(records):
                value = record.get(field.name)
                try:
                    pa.array([value], wire).cast(field.type)
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                    return (
                        f"{where}: record {n + 1}, field '{field.name}' is "
                        f"{type(value).__name__} {_show(value)}, which is not a {field.type} "
                        f"(the column's type, {self.source}); declare the field in columns: "
                        f"(e.g. columns: {{{field.name}: string}}) or fix the API"
                    )
        return f"{where}: the records do not fit the columns ({self.source})"
