"""Transforms: a flow's `transform:` list, applied in order to every record batch it moves.

A transform is a class with a pydantic `config_model` and an `apply(batch, run)` that returns
a new batch using whole-column Arrow calls (no Python per row). Built-ins are registered
through `hygge_register_transforms` exactly as a plugin's are (docs/transforms.md).
"""

from __future__ import annotations

import datetime as dt
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hygge_core.expr import Compiled, ExprError, as_array, compile_expr


@dataclass(frozen=True)
class RunInfo:
    """What a run stamps on its rows: its id and the moment it started (UTC)."""

    run_id: str = "preview"
    started: dt.datetime = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class TransformConfig(BaseModel):
    """Base of every transform's options (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid")


class Transform(ABC):
    """One step of a flow's `transform:` list.

    Users write `- NAME: VALUE`; `normalize(VALUE)` turns short forms (a list, a mapping of
    columns) into the mapping `config_model` validates. `apply` must be vectorised and must
    return the same schema for every batch of one input schema: hygge derives the schema the
    store is prepared with by applying the chain to an empty batch. Instances are pickled to
    other processes (Dask workers): keep compiled state out of `__getstate__` or rebuild it.
    """

    config_model: ClassVar[type[BaseModel]] = TransformConfig

    def __init__(self, config: Any) -> None:
        self.config = config

    @classmethod
    def normalize(cls, value: Any) -> Any:
        """The mapping for `config_model` from what the user wrote (default: as written)."""
        return value

    @abstractmethod
    def apply(self, batch: pa.RecordBatch, run: RunInfo) -> pa.RecordBatch:
        """Return the transformed batch. Raise `ValueError` with a user-facing message
        (column named, fix given) for data or columns it cannot handle."""


class Expression:
    """An expression's text, compiled on first use (and again after unpickling)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._fn: Compiled | None = None

    def __call__(self, batch: pa.RecordBatch) -> Any:
        if self._fn is None:
            self._fn = compile_expr(self.text)
        return self._fn(batch)

    def __getstate__(self) -> dict[str, Any]:
        return {"text": self.text}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.text, self._fn = state["text"], None


def _missing(names: list[str], schema: pa.Schema, what: str) -> None:
    import difflib

    for name in names:
        if name not in schema.names:
            close = difflib.get_close_matches(name, schema.names, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"columns: {', '.join(schema.names)}"
            raise ValueError(f"{what} column '{name}' does not exist; {hint}")


def _columns_form(value: Any, keys: set[str]) -> Any:
    """`{columns: ..., opt: ...}` as written, or a bare mapping/list as `{columns: value}`."""
    if isinstance(value, dict) and value and set(value) <= keys and "columns" in value:
        return value
    return {"columns": value}


# -- select / drop / rename --------------------------------------------------------------


class ColumnsConfig(TransformConfig):
    columns: list[str] = Field(min_length=1, description="column names")


class Select(Transform):
    """`select: [a, b]`: keep these columns, in this order."""

    config_model = ColumnsConfig

    @classmethod
    def normalize(cls, value: Any) -> Any:
        return _columns_form(value, {"columns"})

    def apply(self, batch: pa.RecordBatch, run: RunInfo) -> pa.RecordBatch:
        _missing(self.config.columns, batch.schema, "select:")
        return batch.select(self.config.columns)


class Drop(Transform):
    """`drop: [a, b]`: leave these columns out."""

    config_model = ColumnsConfig

    @classmethod
    def normalize(cls, value: Any) -> Any:
        return _columns_form(value, {"columns"})

    def apply(self, batch: pa.RecordBatch, run: RunInfo) -> pa.RecordBatch:
        _missing(self.config.columns, batch.schema, "drop:")
        keep = [n for n in batch.schema.names if n not in set(self.config.columns)]
        return batch.select(keep)


class RenameConfig(TransformConfig):
    columns: dict[str, str] = Field(default_factory=dict, description="old name → new name")
    case: Literal["snake", "lower", "upper"] | None = Field(
        default=None, description="rename every column to this case (after `columns`)"
    )


def snake(name: str) -> str:
    """`OrderID` → `order_id`, `First Name` → `first_name`, `HTTPCode` → `http_code`."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = re.sub(r"[^0-9A-Za-z]+", "_", s).strip("_")
    return s.lower() or name


class Rename(Transform):
    """`rename: {old: new}` or `rename: {case: snake|lower|upper}` (or both)."""

    config_model = RenameConfig

    @classmethod
    def normalize(cls, value: Any) -> Any:
        if (
            isinstance(value, dict)
            and value
            and set(value) <= {"columns", "case"}
            and ("columns" in value or value.get("case") in ("snake", "lower", "upper", None))
        ):
            return value
        return {"columns": value}

    def apply(self, batch: pa.RecordBatch, run: RunInfo) -> pa.RecordBatch:
        mapping = self.config.columns
        _missing(list(mapping), batch.schema, "rename:")
        names = [mapping.get(n, n) for n in batch.schema.names]
        case = self.config.case
        if case is not None:
            change = {"snake": snake, "lower": str.lower, "upper": str.upper}[case]
            names = [change(n) for n in names]
        seen: dict[str, str] = {}
        for old, new in zip(batch.schema.names, names, strict=True):
            if new in seen:
                raise ValueError(
                    f"rename: columns '{seen[new]}' and '{old}' would both be named '{new}'; "
                    "rename one of them explicitly under columns:"
                )
            seen[new] = old
        return batch.rename_columns(names)


# -- cast --------------------------------------------------------------------------------

_SIMPLE_TYPES: dict[str, pa.DataType] = {
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "uint16": pa.uint16(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "double": pa.float64(),
    "string": pa.string(),
    "utf8": pa.string(),
    "large_string": pa.large_string(),
    "bool": pa.bool_(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "date32": pa.date32(),
    "binary": pa.binary(),
}
_TS = re.compile(r"timestamp(?:\[\s*(s|ms|us|ns)\s*(?:,\s*(?:tz=)?([^\]]+?))?\s*\])?")
_DEC = re.compile(r"decimal(?:128)?\(\s*(\d+)\s*,\s*(\d+)\s*\)")


def parse_type(text: str) -> pa.DataType:
    """`int64`, `float64`, `string`, `bool`, `date`, `timestamp[us, UTC]`, `decimal(12,2)`."""
    t = text.strip().lower() if not text.strip().lower().startswith("timestamp") else text.strip()
    if t in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[t]
    m = _TS.fullmatch(t)
    if m:
        return pa.timestamp(m.group(1) or "us", tz=m.group(2))
    m = _DEC.fullmatch(t)
    if m:
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    raise ValueError(
        f"unknown type '{text}'; use one of {', '.join(sorted(_SIMPLE_TYPES))}, "
        "timestamp[us] or timestamp[us, UTC], decimal(precision, scale)"
    )


class CastConfig(TransformConfig):
    columns: dict[str, str] = Field(min_length=1, description="column → type")
    on_error: Literal["fail", "null"] = Field(
        default="fail", description="a value that does not convert: fail the run, or NULL"
    )

    @field_validator("on_error", mode="before")
    @classmethod
    def _yaml_null(cls, value: Any) -> Any:
        return "null" if value is None else value  # YAML reads a bare null as None

    def model_post_init(self, __context: Any) -> None:
        for name, text in self.columns.items():
            try:
                parse_type(text)
            except ValueError as exc:
                raise ValueError(f"column '{name}': {exc}") from None


class Cast(Transform):
    """`cast: {col: type}` or `cast: {columns: {col: type}, on_error: null}`."""

    config_model = CastConfig

    @classmethod
    def normalize(cls, value: Any) -> Any:
        return _columns_form(value, {"columns", "on_error"})

    def apply(self, batch: pa.RecordBatch, run: RunInfo) -> pa.RecordBatch:
        _missing(list(self.config.columns), batch.schema, "cast:")
        arrays, fields = list(batch.columns), list(batch.schema)
        changed = False
        for name, text in self.config.columns.items():
            i = batch.schema.get_field_index(name)
            target = parse_type(text)
            if batch.column(i).type == target:
                continue  # already that type: no cast, no copy
            arrays[i] = self._cast(name, batch.column(i), target)
            fields[i] = pa.field(name, target, nullable=True)
            changed = True
        if not changed:
            return batch
        return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))

    def _cast(self, name: str, array: pa.Array, target: pa.DataType) -> pa.Array:
        try:
            return pc.cast(array, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            if isinstance(exc, pa.ArrowNotImplementedError):
                raise ValueError(
                    f"cast: column '{name}' of type {array.type} cannot become {target}"
                ) from None
        if self.config.on_error == "fail":
            row = _first_bad(array, target)
            value = array[row].as_py()
            raise ValueError(
                f"cast: column '{name}': value {value!r} (row {row + 1} of its batch) cannot "
                f"become {target}; fix the data, or set on_error: null to load such values "
                "as NULL"
            )
        return _cast_or_null(array, target)


def _first_bad(array: pa.Array, target: pa.DataType) -> int:
    """The index of the first value that does not cast, by halving (a few casts)."""
    lo, hi = 0, len(array)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            pc.cast(array.slice(lo, mid - lo), target)
            lo = mid
        except pa.ArrowInvalid:
            hi = mid
    return lo


def _cast_or_null(array: pa.Array, target: pa.DataType) -> pa.Array:
    """Cast, with values that do not convert as NULL: halves that cast are cast whole, so
    the casts grow with the bad values' count, not with the rows."""
    if pa.types.is_string(array.type) and pa.types.is_timestamp(target):
        parsed = pc.strptime(
            array, format="%Y-%m-%dT%H:%M:%S", unit=target.unit, error_is_null=True
        )
        if target.tz is not None:
            parsed = pc.assume_timezone(parsed, target.tz)
        return parsed.cast(target)
    pieces: list[pa.Array] = []

    def go(part: pa.Array) -> None:
        try:
            pieces.append(pc.cast(part, target))
        except pa.ArrowInvalid:
            if len(part) == 1:
                pieces.append(pa.nulls(1, target))
            else:
                half = len(part) // 2
                go(part.slice(0, half))
                go(part.slice(half))

    go(array)
    return pa.concat_arrays(pieces) if pieces else pa.array([], target)


# -- filter / derive / constant ----------------------------------------------------------


class FilterConfig(TransformConfig):
    expression: str = Field(description="a boolean expression; rows where it is true stay")


class Filter(Transform):
    """`filter: "expression"`: keep the rows where it is true (NULL counts as false)."""

    config_model = FilterConfig

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.expr = Expression(config.expression)

    @classmethod
    def normalize(cls, value: Any) -> Any:
        return {"expression": value} if isinstance(value, str) else value

    def apply(self, batch: pa.RecordBatch, run: RunInfo) -> pa.RecordBatch:
        mask = as_array(self.expr(batch), batch.num_rows)
        if not pa.types.is_boolean(mask.type):
            raise ExprError(f"filter: the expression gives {mask.type}, not true/false", 0)
        kept = pc.sum(mask).as_py() or 0  # NULL counts as false: sum counts only trues
        if kept == batch.num_rows:
            return batch  # the common case costs no copy
        return batch.filter(pc.fill_null(mask, False))


class DeriveConfig(TransformConfig):
    columns: dict[str, str] = Field(min_length=1, description="new column → expression")


class _Repeated:
    """Columns holding one value on every row, made once and sliced for each batch.

    Arrow arrays are immutable, so every batch of a run can share one array's buffers: a
    constant column then costs no allocation and no copy per batch (load metadata columns
    are as long as the data). Checked against the value, so a transform used by several runs
    (its `Shaping` is copied per run) never hands one run another's value. Not pickled.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, tuple[pa.Scalar, pa.Array]] = {}

    def get(self, name: str, scalar: pa.Scalar, rows: int) -> pa.Array:
        made = self._arrays.get(name)
        if made is None or len(made[1]) < rows or not made[0].equals(scalar):
            # Threads of one run may both make it: the same value either way.
            made = self._arrays[name] = (scalar, pa.repeat(scalar, rows))
        array = made[1]
        return array if len(array) == rows else array.slice(0, rows)

    def __getstate__(self) -> dict[str, Any]:
        return {"_arrays": {}}  # made again where it is unpickled (a Dask worker)


def _put(batch: pa.RecordBatch, name: str, array: pa.Array) -> pa.RecordBatch:
    """`batch` with column `name` replaced, or appended when new."""
    i = batch.schema.get_field_index(name)
    if i >= 0:
        return batch.set_column(i, name, array)
    return batch.append_column(name, array)


class Derive(Transform):
    """`derive: {new: "expression"}`: add (or replace) columns computed from others."""

    config_model = DeriveConfig

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.exprs = {name: Expression(text) for name, text in config.columns.items()}

    @classmethod
    def normalize(cls, value: Any) -> Any:
        return _columns_form(value, {"columns"})

    def apply(self, batch: pa.RecordBatch, run: RunInfo) -> pa.RecordBatch:
        for name, expr in self.exprs.items():
            try:
                value = expr(batch)
            except ExprError as exc:
                raise ExprError(f"derive: column '{name}': {exc.message}", exc.offset) from None
            if isinstance(value, pa.Scalar) and value.type == pa.null():
                value = pa.scalar(None, pa.string())
            batch = _put(batch, name, as_array(value, batch.num_rows))
        return batch


class ConstantConfig(TransformConfig):
    columns: dict[str, Any] = Field(min_length=1, description="column → value")


class Constant(Transform):
    """`constant: {source: crm}`: a column holding one value on every row."""

    config_model = ConstantConfig

    @classmethod
    def normalize(cls, value: Any) -> Any:
        return _columns_form(value, {"columns"})

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.repeated = _Repeated()

    def apply(self, batch: pa.RecordBatch, run: RunInfo) -> pa.RecordBatch:
        for name, value in self.config.columns.items():
            scalar = pa.scalar(value) if value is not None else pa.scalar(None, pa.string())
            batch = _put(batch, name, self.repeated.get(name, scalar, batch.num_rows))
        return batch


# -- hash / mask / load metadata ---------------------------------------------------------


class HashConfig(TransformConfig):
    column: str = Field(description="the new column holding the id")
    columns: list[str] = Field(min_length=1, description="the columns the id is computed from")
    bits: Literal[64, 128] = Field(default=128, description="id width: 16 or 32 hex digits")


class Hash(Transform):
    """`hash: {column: id, columns: [a, b]}`: a stable hex id over columns (for keys)."""

    config_model = HashConfig

    def apply(self, batch: pa.RecordBatch, run: RunInfo) -> pa.RecordBatch:
        from hygge_core.hashing import hash_columns_seeded, hex_ids

        _missing(self.config.columns, batch.schema, "hash:")
        cols = [batch.column(c) for c in self.config.columns]
        seeds = [0, 0x68796767] if self.config.bits == 128 else [0]
        return _put(batch, self.config.column, hex_ids(hash_columns_seeded(cols, seeds)))


class MaskConfig(TransformConfig):
    columns: list[str] = Field(min_length=1, description="columns to mask")
    method: Literal["hash", "redact"] = Field(
        default="hash", description="hash: a stable hex digest; redact: replace the value"
    )
    salt: str = Field(default="", description="mixed into the hash (method: hash)")
    replacement: str = Field(default="***", description="what redact writes over text")


class Mask(Transform):
    """`mask: [email]` or `mask: {columns: [...], method: hash|redact}`: hide PII. NULL
    stays NULL, so not_null checks still mean something."""

    config_model = MaskConfig

    @classmethod
    def normalize(cls, value: Any) -> Any:
        return {"columns": value} if isinstance(value, list) else value

    def apply(self, batch: pa.RecordBatch, run: RunInfo) -> pa.RecordBatch:
        from hygge_core.hashing import hash_columns, hex_ids

        _missing(self.config.columns, batch.schema, "mask:")
        seed = 0
        if self.config.salt:
            seed = int(hash_columns([pa.array([self.config.salt])])[0])
        for name in self.config.columns:
            column = batch.column(name)
            valid = pc.is_valid(column)
            if self.config.method == "hash":
                masked = hex_ids([hash_columns([column], seed=seed)])
            elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                masked = pa.repeat(pa.scalar(self.config.replacement), batch.num_rows)
            else:
                masked = pa.nulls(batch.num_rows, column.type)
            nulls = pa.nulls(batch.num_rows, masked.type)
            batch = _put(batch, name, pc.if_else(valid, masked, nulls))
        return batch


Metadata = Literal["run_id", "loaded_at"]


def _both() -> list[Metadata]:
    return ["run_id", "loaded_at"]


class LoadMetadataConfig(TransformConfig):
    columns: list[Metadata] = Field(
        default_factory=_both,
        description="which of _hygge_run_id and _hygge_loaded_at to add",
    )


class LoadMetadata(Transform):
    """`load_metadata: true`: `_hygge_run_id` (string) and `_hygge_loaded_at` (timestamp,
    UTC, the run's start: equal on every row of one run)."""

    config_model = LoadMetadataConfig

    @classmethod
    def normalize(cls, value: Any) -> Any:
        if value is True or value is None:
            return {}
        return {"columns": value} if isinstance(value, list) else value

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.repeated = _Repeated()

    def apply(self, batch: pa.RecordBatch, run: RunInfo) -> pa.RecordBatch:
        n = batch.num_rows
        if "run_id" in self.config.columns:
            run_id = self.repeated.get("_hygge_run_id", pa.scalar(run.run_id), n)
            batch = _put(batch, "_hygge_run_id", run_id)
        if "loaded_at" in self.config.columns:
            stamp = pa.scalar(run.started, pa.timestamp("us", tz="UTC"))
            batch = _put(batch, "_hygge_loaded_at", self.repeated.get("_hygge_loaded_at", stamp, n))
        return batch


__all__ = ["RunInfo", "Transform", "TransformConfig", "parse_type"]
