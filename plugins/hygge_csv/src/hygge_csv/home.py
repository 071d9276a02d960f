"""The CSV and JSON-lines homes: files streamed block by block, one work unit per file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from hygge_core import FlowContext, PermanentError, Window, WorkUnit, content_id, first_line, hive
from hygge_core.files import FileHome, HivePartitions, glob_base
from hygge_csv.columns import schema_of
from hygge_csv.config import CsvHomeConfig, JsonlHomeConfig, TextHomeConfig
from hygge_csv.files import open_input
from hygge_csv.paced import PacedInput
from hygge_csv.parallel import ParallelCsv


class TextHome(FileHome):
    """Reads every file a path names as one table with one schema.

    The schema is declared (`columns:`) or inferred from the first block of the first file,
    once, on the driver; it travels with the pickled home so every worker parses every file
    with the same types. A file cannot be split without parsing it (quotes may hide
    newlines), so each file is one work unit and a folder of files spreads over the cores.
    Files under hive partition folders (`col=value/`) give those columns back, typed by
    `columns:` when it names them, else as the store that wrote them recorded.
    """

    supports_incremental = True
    splits = True  # one unit per file
    # Exact when `columns:` declares the types; inference guesses int64, float64, string...
    arrow_types = frozenset(
        {
            "int32",
            "int64",
            "float64",
            "bool",
            "string",
            "timestamp",
            "timestamp_tz",
            "date",
            "decimal",
        }
    )
    format = "text"

    def __init__(self, config: TextHomeConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: TextHomeConfig = config
        self._schema: pa.Schema | None = None

    @cached_property
    def _partitions(self) -> HivePartitions | None:
        base = glob_base(self.root)
        published = hive.read_schema_json(self.fs, base) if self.fs.isdir(base) else None
        declared = None
        if self.config.columns:
            declared = {f.name: f.type for f in schema_of(self.config.columns)}
        return hive.discover(self.files, base, published=published, declared=declared)

    def schema(self) -> pa.Schema:
        file_schema = self._file_schema()
        if self._partitions is None:
            return file_schema
        if self.config.columns:  # the declared order, partition columns included
            return schema_of(self.config.columns)
        return self._partitions.extend(file_schema)

    def _file_schema(self) -> pa.Schema:
        """The columns the files hold (partition columns, in the folder names, aside)."""
        if self._schema is None:
            if self.config.columns:
                parts = self._partitions.names if self._partitions is not None else []
                declared = schema_of(self.config.columns)
                self._schema = pa.schema([f for f in declared if f.name not in parts])
            else:
                with self._open(self.files[0]) as stream:
                    inferred = self._parse(stream, None, self.files[0]).schema
                # Arrow infers `binary` for text that is not valid UTF-8: that is a wrong
                # encoding, not binary data, and must not land as bytes.
                for field in inferred:
                    if pa.types.is_binary(field.type):
                        raise self._not_utf8(self.files[0], field.name)
                # A column empty in the first block has no type yet: text is the safe guess.
                self._schema = pa.schema(
                    [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in inferred]
                )
        return self._schema

    def plan(self, window: Window | None) -> list[WorkUnit]:
        # The file's version is part of the unit, so a file rewritten after a crash is read
        # again instead of adopting what the crashed run staged from its old bytes.
        with ThreadPoolExecutor(max_workers=16) as pool:
            versions = list(pool.map(lambda p: content_id(self.fs, p), self.files))
        units = []
        for path, version in zip(self.files, versions, strict=True):
            payload: dict[str, Any] = {"path": path, "version": version}
            if self._partitions is not None:
                payload["partitions"] = self._partitions.values[path]
            units.append(WorkUnit(id=self.unit_name(path), payload=payload))
        return units

    def _block_size(self) -> int:
        """Bytes parsed at once: `block_size`, or less when the unit's reader share is
        smaller (the reader holds at least three blocks: see `_blocks_ahead`)."""
        return max(1 << 16, min(self.config.block_size, self.context.memory.share.reader // 3))

    def _blocks_ahead(self, block: int) -> int:
        """Blocks Arrow may read ahead of the batch taken: what the reader share holds
        beside the block being parsed, and never fewer than the two it needs."""
        return max(2, self.context.memory.share.reader // block - 1)

    def read(self, unit: WorkUnit) -> Iterator[pa.RecordBatch]:
        schema = self._file_schema()
        path = unit.payload["path"]
        memory = self.context.memory
        block = self._block_size()
        ahead = self._blocks_ahead(block)
        memory.hold(block * (ahead + 1))
        try:
            yield from self._read(unit, schema, path, ahead)
        finally:
            memory.hold(-block * (ahead + 1))

    def _read(
        self, unit: WorkUnit, schema: pa.Schema, path: str, ahead: int
    ) -> Iterator[pa.RecordBatch]:
        partitions = unit.payload.get("partitions")
        names = self.schema().names
        with self._open(path) as raw:
            for parsed in self._parsed(raw, schema, path, ahead):
                batch = self._finish(parsed, schema, path)
                if partitions is not None and self._partitions is not None:
                    batch = self._partitions.append(batch, partitions).select(names)
                yield _in_window(batch, unit.window)

    def _parsed(
        self, raw: Any, schema: pa.Schema, path: str, ahead: int
    ) -> Iterator[pa.RecordBatch]:
        """The batches parsed from `raw`: Arrow's streaming reader's (`CsvHome` cuts a
        file into pieces parsed side by side where it can)."""
        return self._streamed(raw, schema, path, ahead)

    def _streamed(
        self, raw: Any, schema: pa.Schema, path: str, ahead: int, read: Any = None
    ) -> Iterator[pa.RecordBatch]:
        """The batches Arrow's streaming reader parses from `raw`, one block at a time
        (`read`: the format's read options, where not the config's)."""
        # Arrow's reader would queue ~32 blocks read ahead on its own (hygge_csv.paced).
        stream = PacedInput(raw, ahead)
        try:
            reader = self._parse(stream, schema, path, read)
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except pa.ArrowInvalid as exc:
                    raise self._bad_data(path, exc) from None
                stream.took()
                yield batch
        finally:
            stream.release()

    def _open(self, path: str) -> Any:
        return open_input(self.afs, path, self.config.compression, self.config.encoding)

    def _parse(self, stream: Any, schema: pa.Schema | None, path: str, read: Any = None) -> Any:
        """A streaming reader of `stream` (it has `.schema` and `read_next_batch()`);
        `read`: the format's read options, where not the config's."""
        raise NotImplementedError

    def _finish(self, batch: pa.RecordBatch, schema: pa.Schema, path: str) -> pa.RecordBatch:
        """Turn a parsed batch into exactly `schema` (for types the parser cannot make)."""
        return batch

    def _file_columns(self, path: str) -> list[str] | None:
        """The column names of `path` in the order Arrow numbers them, if known."""
        return None

    def _not_utf8(self, path: str, column: str | None) -> PermanentError:
        """The error for text that is not valid in the configured encoding: where, and how
        to fix it."""
        where = ""
        with self._open(path) as stream:
            found = first_invalid_utf8(stream)
        if found:
            where = f", line {found[0]}, byte {found[1]} of the line"
        name = f", column '{column}'" if column else ""
        return PermanentError(
            f"{self.format} file {path}{where}{name}: the text is not valid "
            f"{self.config.encoding}. hint: set encoding: to the files' encoding "
            "(latin-1, cp1252, utf-16, ...) on the home"
        )

    def _bad_data(self, path: str, exc: Exception) -> PermanentError:
        if "invalid UTF8" in str(exc):
            match = re.search(r"column #(\d+)", str(exc))
            names = self._file_columns(path) if match else None
            index = int(match.group(1)) if match else -1
            return self._not_utf8(path, names[index] if names and index < len(names) else None)
        first = _shown(first_line(exc))
        if "straddl" in first:
            hint = (
                f"; a row or value is longer than block_size ({self.config.block_size:,} "
                "bytes): raise block_size: under the home"
            )
        elif re.search(r"Expected \d+ columns, got \d+", first):
            hint = (
                "; that row has a different number of values than the header: fix the row, "
                "or quote the value that holds the delimiter"
            )
        elif self.config.columns:
            hint = ""
        else:
            hint = "; declare the column types under columns:"
        return PermanentError(f"{self.format} file {path}: {first}{hint}")


class CsvHome(TextHome):
    """`type: csv`: delimited text with a header line (or `header: false` and `columns:`)."""

    config_model = CsvHomeConfig
    format = "csv"

    def __init__(self, config: CsvHomeConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: CsvHomeConfig = config

    def _read_options(self) -> pacsv.ReadOptions:
        c = self.config
        names = list(c.columns) if c.columns else None
        return pacsv.ReadOptions(
            block_size=self._block_size(),
            skip_rows=c.skip_rows,
            column_names=None if c.header else names,
            autogenerate_column_names=not c.header and names is None,
        )

    def _parse_options(self, path: str) -> pacsv.ParseOptions:
        c = self.config
        return pacsv.ParseOptions(
            delimiter=c.delimiter or ("\t" if ".tsv" in path.lower() else ","),
            quote_char=c.quote_char or False,
            escape_char=c.escape_char or False,
            newlines_in_values=c.quote_char is not None,
        )

    def _convert_options(self, schema: pa.Schema | None) -> pacsv.ConvertOptions:
        c = self.config
        return pacsv.ConvertOptions(
            column_types=schema,
            include_columns=schema.names if schema is not None else list(c.columns or []),
            null_values=c.null_values,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        )

    def _parse(self, stream: Any, schema: pa.Schema | None, path: str, read: Any = None) -> Any:
        try:
            return pacsv.open_csv(
                stream,
                read_options=read or self._read_options(),
                parse_options=self._parse_options(path),
                convert_options=self._convert_options(schema),
            )
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc) and schema is not None:
                return _Empty(schema)
            raise self._bad_data(path, exc) from None

    def _parsed(
        self, raw: Any, schema: pa.Schema, path: str, ahead: int
    ) -> Iterator[pa.RecordBatch]:
        # Arrow's streaming reader parses on one core. When the flow's units leave cores
        # idle (one large file, say), the file is cut where rows end and its pieces parse
        # side by side, one per core the unit has but its writer's, as many as the reader
        # share holds (a piece and its parsed table, for each one parsing and one parsed
        # ahead). Measured on 2 cores, a 450 MB file: two parsers beside the writer took
        # the same time as the streaming reader (2.39-2.53 s against 2.31-2.63 s) and
        # 0.6 CPU-seconds more, so a unit keeps a core for its writer.
        cores = (self.context.parallelism or 1) // self.context.memory.units
        workers = min(cores - 1, (ahead + 1) // 2 - 1)
        options = self._read_options()
        parse = self._parse_options(path)
        if not ParallelCsv.usable(parse, options, workers):
            yield from self._streamed(raw, schema, path, ahead)
            return
        parallel = ParallelCsv(options, parse, self._convert_options(schema), workers)
        try:
            yield from parallel.batches(raw)
        except pa.ArrowInvalid as exc:
            raise self._bad_data(path, exc) from None
        if parallel.rest is not None:
            try:
                yield from self._streamed(
                    parallel.rest, schema, path, ahead, parallel.rest_options()
                )
            except PermanentError as exc:
                raise PermanentError(parallel.renumbered(str(exc))) from None

    def _bad_data(self, path: str, exc: Exception) -> PermanentError:
        # Arrow numbers the file's columns ("In CSV column #3"); users think in names.
        error = super()._bad_data(path, exc)
        match = re.search(r"In CSV column #(\d+)", str(error))
        if match:
            names = self._file_columns(path)
            index = int(match.group(1))
            if names and index < len(names):
                return PermanentError(
                    str(error).replace(match.group(0), f"in column '{names[index]}'", 1)
                )
        return error

    def _file_columns(self, path: str) -> list[str] | None:
        """The column names of `path` as written in its header (None when unreadable)."""
        if not self.config.header:
            return list(self.config.columns) if self.config.columns else None
        try:
            with self._open(path) as stream:
                read = pacsv.ReadOptions(block_size=1 << 16, skip_rows=self.config.skip_rows)
                delimiter = self.config.delimiter or ("\t" if ".tsv" in path.lower() else ",")
                parse = pacsv.ParseOptions(delimiter=delimiter)
                return pacsv.open_csv(stream, read_options=read, parse_options=parse).schema.names
        except (pa.ArrowInvalid, OSError):
            return None


class JsonlHome(TextHome):
    """`type: jsonl`: one JSON object per line (`.jsonl`, `.ndjson`)."""

    config_model = JsonlHomeConfig
    format = "jsonl"

    def _parse(self, stream: Any, schema: pa.Schema | None, path: str, read: Any = None) -> Any:
        read = read or pajson.ReadOptions(block_size=self._block_size())
        parse = pajson.ParseOptions(
            explicit_schema=_json_parsable(schema) if schema is not None else None,
            unexpected_field_behavior="ignore" if schema is not None else "infer",
        )
        try:
            return pajson.open_json(stream, read_options=read, parse_options=parse)
        except pa.ArrowInvalid as exc:
            if "Empty JSON" in str(exc) and schema is not None:
                return _Empty(schema)
            raise self._bad_data(path, exc) from None

    def _finish(self, batch: pa.RecordBatch, schema: pa.Schema, path: str) -> pa.RecordBatch:
        if batch.schema.equals(schema):
            return batch
        try:
            return batch.select(schema.names).cast(schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise self._bad_data(path, exc) from None


# Arrow quotes the whole offending value or row; a message shows its start.
_SHOWN_CHARS = 200


def _shown(message: str) -> str:
    """`message` safe to print: control characters escaped (`\\x00`), and cut after
    `_SHOWN_CHARS` characters with the count of what was left out."""
    message = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", message)
    if len(message) <= _SHOWN_CHARS:
        return message
    return f"{message[:_SHOWN_CHARS]}... ({len(message) - _SHOWN_CHARS:,} more characters)"


def _json_parsable(schema: pa.Schema) -> pa.Schema:
    """Arrow's JSON parser reads dates only from numbers; take them as text, cast later."""
    return pa.schema([f.with_type(pa.string()) if pa.types.is_date(f.type) else f for f in schema])


def first_invalid_utf8(stream: Any) -> tuple[int, int] | None:
    """(line, byte in the line), both from 1, of the first byte that is not UTF-8."""
    line, carry = 1, b""
    while chunk := stream.read(1 << 20):
        data = carry + chunk
        carry = b""
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.reason == "unexpected end of data" and exc.end == len(data):
                data, carry = data[: exc.start], data[exc.start :]  # cut mid-character
            else:
                before = data[: exc.start]
                return line + before.count(b"\n"), exc.start - before.rfind(b"\n")
        line += data.count(b"\n")
    return (line, 1) if carry else None


def _in_window(batch: pa.RecordBatch, window: Window | None) -> pa.RecordBatch:
    """Rows strictly after the window's cursor; NULL cursors never pass (`>` is unknown)."""
    if window is None or window.after is None:
        return batch
    column = batch.column(window.cursor)
    return batch.filter(pc.greater(column, pa.scalar(window.after, type=column.type)))


class _Empty:
    """A reader over a file with no bytes: no batches, the declared schema."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema

    def read_next_batch(self) -> pa.RecordBatch:
        raise StopIteration
