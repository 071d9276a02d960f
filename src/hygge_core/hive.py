"""Hive-style partition folders (`col=value/`): naming them, and reading them back.

File stores with `partition_by:` write each row into the folder of its partition key, and
file homes give those folders back as columns, so a table laid out by hygge, Spark, Hive or
pyarrow reads the same way. Values are percent-escaped as pyarrow's `hive` flavour does
(every byte but letters, digits and `-._~`), NULL is `__HIVE_DEFAULT_PARTITION__`, and an
empty string is an empty value (`col=`), so every value but that one marker comes back exact.

The partition columns' Arrow types travel in `_hygge/partitions.json` beside the data (the
store publishes it with its commit); folders without it are read as int64 where every value
is an integer, else as text, the way pyarrow's discovery does.
"""

from __future__ import annotations

import base64
import datetime
import json
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, unquote

import pyarrow as pa
from pydantic import Field, model_validator

from hygge_core.errors import PermanentError, SchemaDriftError
from hygge_core.filecommit import FileCommitter
from hygge_core.filestore import FileStoreConfig
from hygge_core.schema import drift
from hygge_core.store import StagedUnit

__all__ = [
    "HIVE_NULL",
    "SCHEMA_FILE",
    "HivePartitions",
    "HiveStoreConfig",
    "Key",
    "check_layout",
    "check_partition_columns",
    "discover",
    "escape",
    "folder",
    "format_value",
    "parse_folder",
    "publish_plan",
    "read_schema_json",
    "schema_json",
    "split_by_key",
    "staged_files",
]

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
"""The folder value of a NULL partition key (Hive's, Spark's and pyarrow's)."""

SCHEMA_FILE = "_hygge/partitions.json"
"""Where a store keeps its partition columns' Arrow types, relative to its root."""


Key = tuple[Any, ...]
"""A partition key: one Python value per key column (None for NULL)."""


def split_by_key(table: pa.Table, keys: pa.Table | None) -> list[tuple[Key, pa.Table]]:
    """`table`'s rows grouped by partition key: `keys` holds each row's key (one column per
    key part, aligned with `table`); one group with the key `()` when `keys` is None."""
    if keys is None or keys.num_columns == 0:
        return [((), table)]
    names = [f"k{i}" for i in range(keys.num_columns)]
    keys = keys.rename_columns(names)
    combos = keys.group_by(names, use_threads=False).aggregate([])
    if combos.num_rows == 1:
        return [(tuple(combos.to_pylist()[0][n] for n in names), table)]
    import pyarrow.compute as pc  # partitioned stores only: not every run pays its import

    groups = []
    for combo in combos.to_pylist():
        mask = None
        for name in names:
            value, column = combo[name], keys[name]
            test = (
                pc.is_null(column)
                if value is None
                else pc.equal(column, pa.scalar(value, column.type))
            )
            mask = test if mask is None else pc.and_(mask, test)
        groups.append((tuple(combo[n] for n in names), table.filter(mask)))
    return groups


def check_partition_columns(schema: pa.Schema, names: list[str], where: str) -> None:
    """Fail, naming the column, when `names` cannot partition `schema`: a column missing,
    named twice, all columns (nothing would be left in the files), or of a type that has
    no folder name (nested, binary, floating point)."""
    for name in names:
        if name not in schema.names:
            raise PermanentError(
                f"{where}: partition_by column '{name}' is not in the data; columns: "
                f"{', '.join(schema.names)}"
            )
        t = schema.field(name).type
        if not _foldable(t):
            raise PermanentError(
                f"{where}: partition_by column '{name}' is {t}, which has no exact folder "
                "name; partition by a column of integers, text, dates, timestamps, booleans "
                "or decimals (or cast it first)"
            )
    if len(set(names)) != len(names):
        raise PermanentError(f"{where}: partition_by names a column twice: {names}")
    if len(names) >= len(schema.names):
        raise PermanentError(
            f"{where}: partition_by names every column, so the files would hold none; "
            "leave at least one column out of partition_by"
        )


def _foldable(t: pa.DataType) -> bool:
    return (
        pa.types.is_integer(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_date(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
    )


def format_value(value: Any) -> str:
    """A key value as its folder text (unescaped): ISO dates and times, `true`/`false`."""
    if value is None:
        return HIVE_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def escape(text: str) -> str:
    """`text` safe as one path element, percent-escaped like pyarrow's hive partitioning."""
    return quote(text, safe="")


def folder(names: list[str], key: Iterable[Any]) -> str:
    """The relative folder of a partition key: `a=1/b=x%2Fy`."""
    parts = []
    for name, value in zip(names, key, strict=True):
        text = HIVE_NULL if value is None else escape(format_value(value))
        parts.append(f"{escape(name)}={text}")
    return "/".join(parts)


def parse_folder(relative: str) -> dict[str, str | None]:
    """The partition values in a file's path relative to the dataset's base (the file name
    itself excluded): `a=1/b=x/part.parquet` → {"a": "1", "b": "x"}; NULL as None."""
    found: dict[str, str | None] = {}
    for part in relative.split("/")[:-1]:
        name, eq, text = part.partition("=")
        if not eq or not name:
            continue
        found[unquote(name)] = None if text == HIVE_NULL else unquote(text)
    return found


def schema_json(fields: list[pa.Field]) -> bytes:
    """The contents of `SCHEMA_FILE` for these partition columns."""
    raw = pa.schema(fields).serialize().to_pybytes()
    body = {"columns": [f.name for f in fields], "arrow": base64.b64encode(raw).decode()}
    return json.dumps(body).encode()


def read_schema_json(fs: Any, root: str) -> pa.Schema | None:
    """The partition columns a store published under `root`, or None."""
    try:
        body = json.loads(fs.cat_file(posixpath.join(root, SCHEMA_FILE)))
    except (FileNotFoundError, NotADirectoryError):
        return None
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(body["arrow"])))


@dataclass
class HivePartitions:
    """The partition columns found in a listing of files, and each file's values.

    `fields` are the columns in folder order, `values` maps each file to its raw (unescaped)
    folder values; `columns(values, rows)` builds a batch's partition columns from them.
    """

    fields: list[pa.Field]
    values: dict[str, dict[str, str | None]]

    @property
    def names(self) -> list[str]:
        """The partition columns' names, in folder order."""
        return [f.name for f in self.fields]

    def extend(self, schema: pa.Schema) -> pa.Schema:
        """`schema` with the partition columns it lacks appended."""
        return pa.schema([*schema, *(f for f in self.fields if f.name not in schema.names)])

    def append(self, batch: pa.RecordBatch, raw: dict[str, str | None]) -> pa.RecordBatch:
        """`batch` with the partition columns it lacks appended, from a file's values."""
        arrays, fields = list(batch.columns), list(batch.schema)
        for f in self.fields:
            if f.name in batch.schema.names:
                continue
            arrays.append(pa.repeat(_scalar(raw.get(f.name), f.type), batch.num_rows))
            fields.append(f)
        return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _scalar(text: str | None, t: pa.DataType) -> pa.Scalar:
    if text is None:
        return pa.scalar(None, type=t)
    if pa.types.is_boolean(t):
        return pa.scalar(text == "true", type=t)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pa.scalar(text, type=t)
    if pa.types.is_timestamp(t):
        return pa.scalar(text.replace(" ", "T"), type=pa.string()).cast(t)
    return pa.scalar(text, type=pa.string()).cast(t)


def discover(
    files: list[str],
    base: str,
    *,
    published: pa.Schema | None = None,
    declared: dict[str, pa.DataType] | None = None,
) -> HivePartitions | None:
    """The hive partitions of `files` (paths under `base`), or None when they have none.

    Types come from `declared` (a home's own column types), then `published` (the
    store's `SCHEMA_FILE`), else int64 where every value is an integer and text otherwise.
    Files must agree on the partition columns: a file outside them is an error naming it.
    """
    values = {f: parse_folder(posixpath.relpath(f, base)) for f in files}
    if not values or not any(values.values()):
        return None
    first = files[0]
    names = list(values[first])
    for path, found in values.items():
        if list(found) != names:
            raise PermanentError(
                f"{path} is in partition folders {list(found) or 'none'} but {first} is in "
                f"{names}: every file of a hive-partitioned folder must sit under the same "
                "col=value/ folders; move the odd file out, or read a narrower path"
            )
    fields = []
    for name in names:
        texts = [text for v in values.values() if (text := v[name]) is not None]
        if declared and name in declared:
            t = declared[name]
        elif published is not None and name in published.names:
            t = published.field(name).type
        elif texts and all(_is_int(x) for x in texts):
            t = pa.int64()
        else:
            t = pa.string()
        fields.append(pa.field(name, t))
    partitions = HivePartitions(fields, values)
    for path, found in values.items():  # a folder value that does not fit fails here, once
        for f in fields:
            try:
                _scalar(found[f.name], f.type)
            except (pa.ArrowInvalid, ValueError) as exc:
                raise PermanentError(
                    f"{path}: partition folder value {found[f.name]!r} of column '{f.name}' "
                    f"is not a {f.type} ({exc}); fix the folder name or declare the column "
                    "as text"
                ) from None
    return partitions


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


class HiveStoreConfig(FileStoreConfig):
    """Options of file stores that write hive partitions: `partition_by:` and the mode
    `replace_partitions` (replace only the partitions present in the run's data)."""

    mode: Literal["append", "replace", "replace_partitions"] = Field(  # type: ignore[assignment]
        default="append", description="append, replace or replace_partitions"
    )
    partition_by: list[str] | None = Field(
        default=None, description="write rows under col=value/ folders of these columns"
    )

    @model_validator(mode="after")
    def _replace_partitions_needs_partitions(self) -> HiveStoreConfig:
        if self.mode == "replace_partitions" and not self.partition_by:
            raise ValueError(
                "mode: replace_partitions needs partition_by: [column, ...] naming the "
                "columns whose col=value/ folders it replaces"
            )
        return self


def check_layout(
    committer: FileCommitter,
    schema: pa.Schema,
    config: HiveStoreConfig,
    schema_drift: str,
    published: list[str],
) -> None:
    """Before a run writes: `partition_by` fits `schema`, and on `append` and
    `replace_partitions` it matches how the `published` files are already laid out (same
    columns, same types), so one store never mixes two layouts."""
    names = config.partition_by or []
    where = f"store {config.path}"
    if names:
        check_partition_columns(schema, names, where)
    if config.mode == "replace" or not published:
        return
    last = published[-1]
    found = list(parse_folder(posixpath.relpath(last, committer.root)))
    if found != names:
        raise SchemaDriftError(
            f"{where}: its files are partitioned by {found or 'nothing'} ({last}) but "
            f"partition_by is {names or 'not set'}; a store keeps one layout. hint: set "
            f"partition_by: {found or '[]'} as before, or run once with mode: replace"
        )
    before = read_schema_json(committer.fs, committer.root)
    if names and before is not None:
        now = pa.schema([schema.field(n) for n in names])
        problem = drift(before, now, schema_drift)
        if problem:
            raise SchemaDriftError(f"{where}: partition columns: {problem}")


def staged_files(staged: list[StagedUnit]) -> list[tuple[str, str]]:
    """`(staged file, path relative to the root)` of every file the units staged: the
    payload's `files` and `names` (the partition folder and file name), or the file's own
    name when a unit has no `names` (an unpartitioned store)."""
    pairs = []
    for unit in staged:
        files = unit.payload["files"]
        names = unit.payload.get("names") or [posixpath.basename(f) for f in files]
        pairs += list(zip(files, names, strict=True))
    return pairs


def publish_plan(
    committer: FileCommitter,
    staged: list[tuple[str, str]],
    mode: str,
    partitions: list[pa.Field],
    staging: str,
) -> tuple[list[tuple[str, str]], list[str]]:
    """The moves and deletes of a file store's commit: each `(staged file, path relative
    to the root)` moves into place; `replace` deletes every published file,
    `replace_partitions` those in the folders the run writes, `append` none. The partition
    columns' types (`SCHEMA_FILE`) are published in the same commit."""
    root = committer.root
    moves = [(src, posixpath.join(root, rel)) for src, rel in staged]
    deletes: list[str] = []
    if mode == "replace":
        deletes = committer.data_files()
    elif mode == "replace_partitions":
        touched = {posixpath.dirname(rel) for _, rel in staged}
        deletes = [
            p
            for p in committer.data_files()
            if posixpath.dirname(posixpath.relpath(p, root)) in touched
        ]
    schema_path = posixpath.join(root, SCHEMA_FILE)
    if partitions:
        source = posixpath.join(staging, posixpath.basename(SCHEMA_FILE))
        committer.write_atomic(source, schema_json(partitions))
        moves.append((source, schema_path))
    elif mode == "replace":
        deletes.append(schema_path)  # no partitions any more (deleting is skipped if absent)
    return moves, deletes
