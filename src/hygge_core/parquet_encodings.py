"""Per-column Parquet encodings, chosen from a sample of a unit's first row group.

Every store that writes Parquet uses this: hygge-parquet's store, and through
`PartitionedWriter` the table formats (Delta, Iceberg).

pyarrow's default dictionary-encodes every column. On a high-cardinality column (ids, free
text, timestamps) the dictionary outgrows its page limit and the writer falls back to plain:
it pays for both, and the file is larger than plain alone (issue 22: half the CPU of a
Parquet write went there). So hygge decides per column, once per unit, and keeps the choice
for every file of the unit (the writers keep a choice made from a full sample for the run's
later units too):

1. **Dictionary** when at most `MAX_DISTINCT_SHARE` of the sampled values are distinct and
   the dictionary of a whole row group, estimated from the sample, fits the writer's
   dictionary page (`DICTIONARY_PAGE_LIMIT`): then it never falls back.
2. Otherwise a **trial**: the first `TRIAL_ROWS` rows of the sample are written in memory
   once plain and once in each delta encoding the column's type allows
   (`DELTA_BINARY_PACKED` for integers, dates and timestamps; `DELTA_LENGTH_BYTE_ARRAY` and
   `DELTA_BYTE_ARRAY` for strings and binary), compressed with the store's codec. A delta
   encoding wins when its bytes are at most `DELTA_GAIN` of plain's (plain is the cheapest to
   write and to read, so a delta encoding must earn its place); else plain.
3. **No codec** for a column of the trial whose pages the codec shrinks by less than
   `MIN_CODEC_GAIN`: free text, random numbers and delta-packed integers mostly do not
   compress, and compressing them (and decompressing them on every read) is pure CPU —
   snappy took half the CPU of writing a random-text column to save 1.2% of its bytes.

Everything is vectorised (pyarrow `value_counts`, one in-memory write), on at most
`SAMPLE_ROWS` rows whatever the unit's size. The user's `dictionary:` and `encoding:` store
options override the choice column by column.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hygge_core._kernels import aggregate, call

# pyarrow's `dictionary_pagesize_limit` default: past it a column chunk falls back to plain.
DICTIONARY_PAGE_LIMIT = 1 << 20
# Rows looked at per unit: 8 slices spread over the first row group (a sorted table's head
# alone would look more repetitive than the table is).
SAMPLE_ROWS = 65_536
SAMPLE_SLICES = 8
# Spread rows looked at first; a column whose dictionary overflows `PROBE_MARGIN` pages
# even by their estimate is decided without hashing the whole sample.
PROBE_ROWS = 4096
PROBE_MARGIN = 1.5
# Rows of the in-memory trial write that compares plain with the delta encodings.
TRIAL_ROWS = 8192
# Past this share of distinct values a dictionary would hold most values: it cannot pay.
MAX_DISTINCT_SHARE = 0.5
# A delta encoding must save at least 25% over plain to be chosen: on random 48-bit
# timestamps it saves 22% but costs 3-4x plain's CPU (snappy gives up fast on plain).
DELTA_GAIN = 0.75
# A column whose trial pages the codec shrinks by less than this share is written without
# it: the few bytes saved do not pay for compressing and decompressing every page.
MIN_CODEC_GAIN = 1 / 32

INTEGER_DELTA = ("DELTA_BINARY_PACKED",)
BYTES_DELTA = ("DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY")
ENCODINGS = (
    "PLAIN",
    "DELTA_BINARY_PACKED",
    "DELTA_LENGTH_BYTE_ARRAY",
    "DELTA_BYTE_ARRAY",
    "BYTE_STREAM_SPLIT",
    "RLE",
)


# Public (docs/plugins/api.md): what a Parquet-writing store uses to choose encodings.
__all__ = [
    "ENCODINGS",
    "SAMPLE_ROWS",
    "EncodingOptionError",
    "EncodingPlan",
    "allowed_encodings",
    "check_options",
    "choose",
]


@dataclass(frozen=True)
class EncodingPlan:
    """How one file's columns are encoded: which get a dictionary, and the encoding of the
    others (columns in neither are written plain); and, when some column is better off
    without the store's codec, the codec of every column (`compression`, by column path,
    `NONE` for those)."""

    dictionary: tuple[str, ...] = ()
    encoding: Mapping[str, str] = field(default_factory=dict)
    compression: Mapping[str, str] = field(default_factory=dict)

    def writer_options(self) -> dict[str, Any]:
        """The keyword arguments of `pyarrow.parquet.ParquetWriter` this plan stands for
        (the codec aside: see `codecs`)."""
        return {
            "use_dictionary": list(self.dictionary),
            "column_encoding": dict(self.encoding) or None,
        }

    def codecs(self, default: Any) -> Any:
        """The writer's `compression` argument: the codec per column where the plan leaves
        some column without it, else `default` (the store's codec) as it is."""
        return dict(self.compression) if self.compression else default

    def levels(self, level: int | None) -> Any:
        """The writer's `compression_level` argument for the store's `level`: per column
        beside `codecs`, since pyarrow refuses a level for a column without a codec."""
        if level is None or not self.compression:
            return level
        return {name: level for name, codec in self.compression.items() if codec != "NONE"}


class EncodingOptionError(ValueError):
    """A `dictionary:` or `encoding:` entry that does not fit the data's schema."""

    def __init__(self, field_name: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.field_name = field_name
        self.message = message
        self.hint = hint


def allowed_encodings(type_: pa.DataType) -> tuple[str, ...]:
    """The Parquet encodings a column of this Arrow type can be written in (besides the
    dictionary)."""
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    if _is_nested(type_):
        return ()
    if pa.types.is_boolean(type_):
        return ("PLAIN", "RLE")
    if (
        pa.types.is_integer(type_)
        or pa.types.is_date(type_)
        or pa.types.is_timestamp(type_)
        or pa.types.is_time(type_)
        or pa.types.is_duration(type_)
    ):
        return ("PLAIN", *INTEGER_DELTA, "BYTE_STREAM_SPLIT")
    if pa.types.is_floating(type_):
        return ("PLAIN", "BYTE_STREAM_SPLIT")
    if _is_bytes(type_):
        return ("PLAIN", *BYTES_DELTA)
    if pa.types.is_fixed_size_binary(type_) or pa.types.is_decimal(type_):
        return ("PLAIN", "DELTA_BYTE_ARRAY", "BYTE_STREAM_SPLIT")
    return ("PLAIN",)


def check_options(
    schema: pa.Schema,
    dictionary: bool | Sequence[str] | None,
    encoding: Mapping[str, str],
) -> None:
    """Raise `EncodingOptionError` for an option that names a column the data lacks, or an
    encoding the column's type cannot take."""
    names = schema.names
    listed = [] if isinstance(dictionary, bool) or dictionary is None else list(dictionary)
    for option, columns in (("dictionary", listed), ("encoding", list(encoding))):
        for name in columns:
            if name not in names:
                close = difflib.get_close_matches(name, names, n=1)
                raise EncodingOptionError(
                    f"{option}.{name}" if option == "encoding" else option,
                    f"column '{name}' is not in the data",
                    f"did you mean '{close[0]}'?" if close else f"columns: {', '.join(names)}",
                )
    for name in listed:
        if pa.types.is_boolean(schema.field(name).type):
            raise EncodingOptionError(
                "dictionary",
                f"column '{name}' is boolean: Parquet has no dictionary for booleans",
                "remove it from the list",
            )
    for name, value in encoding.items():
        type_ = schema.field(name).type
        allowed = allowed_encodings(type_)
        if value not in allowed:
            raise EncodingOptionError(
                f"encoding.{name}",
                f"{value} cannot encode column '{name}' of type {type_}",
                f"valid for this column: {', '.join(allowed)}"
                if allowed
                else "nested columns take no encoding option; remove the entry",
            )


def choose(
    group: pa.Table,
    *,
    rows_per_group: int,
    compression: str | None,
    dictionary: bool | Sequence[str] | None = None,
    encoding: Mapping[str, str] | None = None,
) -> EncodingPlan:
    """The plan for a unit whose first row group is `group`; later row groups hold up to
    `rows_per_group` rows. `dictionary` and `encoding` are the user's overrides (None: hygge
    decides; True/False: every column/none; a list: exactly those columns).

    Nested columns (lists, structs, maps) keep pyarrow's default, a dictionary on every leaf,
    unless `dictionary` says otherwise: the sample tells nothing about their leaves."""
    encoding = dict(encoding or {})
    if not isinstance(compression, str) or compression.upper() == "NONE":
        compression = None  # no codec, or the caller's own per-column ones: leave them be
    fixed_dict = None if dictionary is None else _listed(group.schema, dictionary, encoding)
    sample = _sample(group)
    dict_columns: list[str] = []
    undecided: list[str] = []
    for f in group.schema:
        if f.name in encoding:
            continue
        if fixed_dict is not None:
            wants_dict = f.name in fixed_dict
        elif _is_nested(f.type):
            wants_dict = True
        else:
            wants_dict = _dictionary_pays(sample.column(f.name), f.type, rows_per_group, group)
        if wants_dict:
            dict_columns.append(f.name)
        elif not _is_nested(f.type):
            undecided.append(f.name)
    chosen, bare = _trial(sample, undecided, compression)
    encoding.update(chosen)
    codecs: dict[str, str] = {}
    if bare and compression is not None and not any(_is_nested(f.type) for f in group.schema):
        # Every column is named: a codec not named is no codec at all for pyarrow.
        codecs = {name: "NONE" if name in bare else compression for name in group.schema.names}
    return EncodingPlan(tuple(_leaves(group.schema, dict_columns)), encoding, codecs)


def _listed(
    schema: pa.Schema, dictionary: bool | Sequence[str], encoding: Mapping[str, str]
) -> set[str]:
    if dictionary is True:
        return {
            f.name for f in schema if f.name not in encoding and not pa.types.is_boolean(f.type)
        }
    if dictionary is False:
        return set()
    return set(dictionary)


def _leaves(schema: pa.Schema, columns: list[str]) -> list[str]:
    """The Parquet column paths of `columns`: a nested column's leaves (`tags.list.element`),
    as the writer's `use_dictionary` wants them, read from the footer of an empty file."""
    nested = [name for name in columns if _is_nested(schema.field(name).type)]
    if not nested:
        return columns
    sink = pa.BufferOutputStream()
    pq.write_table(pa.schema([schema.field(n) for n in nested]).empty_table(), sink)
    parquet_schema = pq.read_metadata(pa.BufferReader(sink.getvalue())).schema
    paths: dict[str, list[str]] = {}
    for i in range(len(parquet_schema)):
        path = parquet_schema.column(i).path
        paths.setdefault(path.split(".", 1)[0], []).append(path)
    return [leaf for name in columns for leaf in paths.get(name, [name])]


def _sample(group: pa.Table) -> pa.Table:
    """At most `SAMPLE_ROWS` rows, in `SAMPLE_SLICES` slices spread over the group."""
    if group.num_rows <= SAMPLE_ROWS:
        return group
    size = SAMPLE_ROWS // SAMPLE_SLICES
    step = group.num_rows // SAMPLE_SLICES
    return pa.concat_tables(group.slice(i * step, size) for i in range(SAMPLE_SLICES))


def _dictionary_pays(
    column: pa.ChunkedArray, type_: pa.DataType, rows_per_group: int, group: pa.Table
) -> bool:
    """Whether a dictionary shrinks the column and never overflows its page."""
    if pa.types.is_dictionary(type_):
        return True  # already a dictionary: keep it one
    if pa.types.is_boolean(type_):
        return False  # Parquet has no dictionary for booleans
    values = call("drop_null", column)
    n = len(values)
    if n == 0:
        return False
    rows = max(rows_per_group, group.num_rows) * n / len(column)
    if n > PROBE_ROWS:
        # A look at a few spread rows first: free text, ids and timestamps overflow the
        # page even by this small sample's estimate, and hashing all of the sample's long
        # strings is what the choice would otherwise spend most on.
        step = n // PROBE_ROWS
        probe = call("take", values, pa.array(range(0, step * PROBE_ROWS, step), pa.int64()))
        if _estimate(probe, rows) > PROBE_MARGIN * DICTIONARY_PAGE_LIMIT:
            return False
    counts = call("value_counts", values)
    if len(counts) > MAX_DISTINCT_SHARE * n:
        return False
    return _estimate(values, rows, counts) <= DICTIONARY_PAGE_LIMIT


def _estimate(values: pa.Array | pa.ChunkedArray, rows: float, counts: Any = None) -> float:
    """Bytes of the dictionary of `rows` values like `values`.

    Distinct values of the whole row group, from the sample: values seen once stand for the
    unseen ones, scaled by sqrt(rows / sample) (the GEE estimator of Charikar et al.). A
    sample with no value seen twice is taken for a column of distinct values: GEE would
    say sqrt(rows x sample), a sixteenth of a 1M-row group's ids from 4,096 of them, and
    send every id, timestamp and free-text column on to hashing the whole sample.
    """
    if counts is None:
        counts = call("value_counts", values)
    n = len(values)
    distinct = len(counts)
    singletons = aggregate("sum", call("equal", counts.field("counts"), 1)).as_py() or 0
    if singletons == n:
        estimate = max(rows, n)
    elif rows > n:
        estimate = distinct + singletons * (math.sqrt(rows / n) - 1)
    else:
        estimate = distinct
    return estimate * _value_width(counts.field("values"), values.type)


def _value_width(distinct_values: pa.Array, type_: pa.DataType) -> float:
    """Bytes one dictionary entry takes on its page."""
    if _is_bytes(type_):
        total = aggregate("sum", call("binary_length", distinct_values)).as_py() or 0
        return 4 + total / max(len(distinct_values), 1)  # a 4-byte length, then the bytes
    try:
        return float(type_.bit_width) / 8
    except ValueError:
        return 16.0


def _trial(
    sample: pa.Table, columns: list[str], compression: str | None
) -> tuple[dict[str, str], set[str]]:
    """Plain or a delta encoding for each column, by writing `TRIAL_ROWS` rows in memory;
    and the columns the codec shrinks by less than `MIN_CODEC_GAIN` in that encoding."""
    candidates = {
        name: _deltas(sample.schema.field(name).type)
        for name in columns
        if not pa.types.is_dictionary(sample.schema.field(name).type)
    }
    if compression is None:  # nothing to learn about the codec: only the deltas matter
        candidates = {name: deltas for name, deltas in candidates.items() if deltas}
    if not candidates or sample.num_rows == 0:
        return {}, set()
    head = sample.slice(0, TRIAL_ROWS)
    arrays: list[pa.ChunkedArray] = []
    names: list[str] = []
    trial_encoding: dict[str, str] = {}
    for name, deltas in candidates.items():
        for enc in ("PLAIN", *deltas):
            names.append(f"{len(names)}")
            arrays.append(head.column(name))
            trial_encoding[names[-1]] = enc
    sink = pa.BufferOutputStream()
    pq.write_table(
        pa.table(arrays, names=names),
        sink,
        compression=compression,
        use_dictionary=False,
        column_encoding=trial_encoding,
        write_statistics=False,
        row_group_size=TRIAL_ROWS,
    )
    meta = pq.read_metadata(pa.BufferReader(sink.getvalue())).row_group(0)
    sizes = [meta.column(i).total_compressed_size for i in range(meta.num_columns)]
    raw = [meta.column(i).total_uncompressed_size for i in range(meta.num_columns)]
    chosen: dict[str, str] = {}
    bare: set[str] = set()
    at = 0
    for name, deltas in candidates.items():
        pick = at  # plain
        if deltas:
            best = at + 1 + min(range(len(deltas)), key=lambda k: sizes[at + 1 + k])
            if sizes[best] <= DELTA_GAIN * sizes[at]:
                chosen[name] = deltas[best - at - 1]
                pick = best
        if compression is not None and sizes[pick] > (1 - MIN_CODEC_GAIN) * raw[pick]:
            bare.add(name)
        at += 1 + len(deltas)
    return chosen, bare


def _deltas(type_: pa.DataType) -> tuple[str, ...]:
    if _is_nested(type_) or pa.types.is_dictionary(type_):
        return ()
    allowed = allowed_encodings(type_)
    return tuple(e for e in allowed if e.startswith("DELTA"))


def _is_bytes(type_: pa.DataType) -> bool:
    return (
        pa.types.is_string(type_)
        or pa.types.is_large_string(type_)
        or pa.types.is_binary(type_)
        or pa.types.is_large_binary(type_)
    )


def _is_nested(type_: pa.DataType) -> bool:
    return pa.types.is_nested(type_)
