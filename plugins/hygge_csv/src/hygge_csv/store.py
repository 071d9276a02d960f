"""The CSV and JSON-lines stores: part files staged per work unit, published by hygge's
commit record, into a directory of parts or a single file."""

from __future__ import annotations

import codecs
import contextlib
import posixpath
from collections.abc import Iterable
from functools import cached_property
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from hygge_core import (
    FileStore,
    FlowContext,
    FlowState,
    PermanentError,
    SchemaDriftError,
    StagedUnit,
    WorkUnit,
    hive,
)
from hygge_csv.config import CsvStoreConfig, JsonlStoreConfig, TextStoreConfig
from hygge_csv.files import CODEC_SUFFIXES, codec_for, open_input
from hygge_csv.jsonlines import encode, unsupported

COPY_CHUNK = 8 << 20
# What text carries exactly (the kit checks each): everything but raw bytes.
EXACT_TYPES = frozenset(
    {"int32", "int64", "float64", "bool", "string", "timestamp", "timestamp_tz", "date", "decimal"}
)


class TextStore(FileStore):
    """Text files written exactly once per committed run.

    A `path` that ends like a file of this format (`out/users.csv`, `out/events.jsonl.gz`)
    is one file: units stage headerless parts, and commit joins them (after the old file's
    bytes, on append) into one staged file that replaces the target in a single move. Any
    other `path` is a directory of `part-<run>-<unit>-<n>` files, like the Parquet store.
    Either way `FileCommitter` publishes data and state together. With `partition_by:`
    a directory's parts go under `col=value/` folders, without the partition columns.
    """

    modes = frozenset({"append", "replace", "replace_partitions"})
    format: ClassVar[str] = "text"
    suffixes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: TextStoreConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: TextStoreConfig = config
        self._schema: pa.Schema | None = None

    # -- where ---------------------------------------------------------------------------
    @cached_property
    def single_file(self) -> bool:
        """Whether `path` names one file rather than a directory of parts."""
        name = self.target.lower()
        for suffix in CODEC_SUFFIXES.values():
            name = name.removesuffix(suffix)
        return name.endswith(self.suffixes)

    @cached_property
    def root(self) -> str:
        """The folder that holds the data, `_hygge_staging/` and `_hygge/`."""
        return posixpath.dirname(self.target) if self.single_file else self.target

    @cached_property
    def codec(self) -> str | None:
        """Compression of written files: named, or from the single file's suffix."""
        if self.config.compression == "infer" and not self.single_file:
            return None
        return codec_for(self.target, self.config.compression)

    @property
    def extension(self) -> str:
        """Suffix of staged files, codec included: a single file's own (`.tsv.gz`), else
        the format's first (`.csv`)."""
        codec = CODEC_SUFFIXES.get(self.codec or "", "")
        name = self.target.lower().removesuffix(codec) if self.single_file else ""
        return next((s for s in self.suffixes if name.endswith(s)), self.suffixes[0]) + codec

    def describe(self) -> str:
        return f"{self.format} {self.config.path} ({self.config.mode})"

    def published(self) -> list[str]:
        """The data files readers see now."""
        if self.single_file:
            return [self.target] if self.fs.exists(self.target) else []
        return self.committer.data_files()

    @property
    def _partition_by(self) -> list[str]:
        return self.config.partition_by or []

    def prepare(self, schema: pa.Schema) -> None:
        for field in schema:
            reason = self.unsupported(field)
            if reason:
                raise PermanentError(f"store {self.config.path}: {reason}")
        if self._partition_by and self.single_file:
            raise PermanentError(
                f"store {self.config.path}: partition_by writes col=value/ folders of part "
                "files, but the path names one file; give a folder path (e.g. "
                f"{posixpath.dirname(self.target) or '.'}/out/) or remove partition_by"
            )
        self._schema = schema
        if not self.single_file:
            hive.check_layout(
                self.committer, schema, self.config, self.context.schema_drift, self.published()
            )
        # The files hold every column but the partition columns (those are in the folders).
        schema = pa.schema([f for f in schema if f.name not in self._partition_by])
        existing = self.published() if self.config.mode != "replace" else []
        if existing:
            names = self.column_names(existing[-1])
            if names is not None and names != schema.names:
                raise SchemaDriftError(
                    f"store {self.config.path}: its files have columns {names} but the home "
                    f"yields {schema.names}; a {self.format} store keeps one set of columns. "
                    "hint: run with mode: replace to start over"
                )

    def stage(self, unit: WorkUnit, batches: Iterable[pa.RecordBatch]) -> StagedUnit:
        if self._partition_by:
            return self._stage_partitioned(unit, batches)
        folder = self.committer.staging_dir(self.context.run_id)
        files: list[str] = []
        rows = nbytes = in_file = 0
        writer: Any = None
        try:
            for batch in batches:
                if writer is None or (not self.single_file and in_file >= self.config.file_rows):
                    if writer is not None:
                        writer.close()
                    name = f"part-{self.context.run_id}-{unit.seq:05d}-{len(files):03d}"
                    files.append(posixpath.join(folder, name + self.extension))
                    writer = self.open_writer(files[-1], batch.schema, header=not self.single_file)
                    in_file = 0
                writer.write(batch)
                in_file += batch.num_rows
                rows += batch.num_rows
                nbytes += batch.nbytes
        except BaseException:
            # Close before `abort` runs: an object-store writer left open would upload its
            # part when garbage-collected, after abort emptied the staging folder.
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
            raise
        if writer is not None:
            writer.close()
        return StagedUnit(unit.id, rows, nbytes, {"files": files, "seq": unit.seq})

    def _stage_partitioned(self, unit: WorkUnit, batches: Iterable[pa.RecordBatch]) -> StagedUnit:
        """Stage a unit's rows under `col=value/` folders: one open part per partition,
        a new one every `file_rows` rows."""
        staging = self.committer.staging_dir(self.context.run_id)
        names = self._partition_by
        open_parts: dict[hive.Key, list[Any]] = {}  # key → [writer, rows in it]
        files: list[str] = []
        targets: list[str] = []
        rows = nbytes = 0
        try:
            for batch in batches:
                table = pa.Table.from_batches([batch])
                data, keys = table.drop_columns(names), table.select(names)
                for key, part in hive.split_by_key(data, keys):
                    current = open_parts.get(key)
                    if current is None or current[1] >= self.config.file_rows:
                        if current is not None:
                            current[0].close()
                        name = f"part-{self.context.run_id}-{unit.seq:05d}-{len(files):03d}"
                        rel = f"{hive.folder(names, key)}/{name}{self.extension}"
                        files.append(posixpath.join(staging, rel))
                        targets.append(rel)
                        writer = self.open_writer(files[-1], part.schema, header=True)
                        current = open_parts[key] = [writer, 0]
                    for piece in part.to_batches():
                        current[0].write(piece)
                    current[1] += part.num_rows
                rows += batch.num_rows
                nbytes += batch.nbytes
        finally:
            # Closed on failure too, before `abort` runs (see `stage`).
            for writer, _ in open_parts.values():
                with contextlib.suppress(Exception):
                    writer.close()
        return StagedUnit(
            unit.id, rows, nbytes, {"files": files, "names": targets, "seq": unit.seq}
        )

    def recover(self) -> list[str]:
        if not self.single_file:
            return super().recover()
        with self.committer.target_lock(self.target):
            return super().recover() + self.committer.recover_target(self.target)

    def commit(self, staged: list[StagedUnit], state: FlowState) -> None:
        ordered = sorted(staged, key=lambda s: s.payload["seq"])
        files = [f for s in ordered for f in s.payload["files"]]
        if self.single_file:
            # Several flows (or processes) may append to this one file, and each commit
            # rebuilds it from the bytes it finds: under the file's lock, after any other
            # flow's interrupted commit of it has landed, or later commits erase earlier ones.
            with self.committer.target_lock(self.target):
                self.committer.recover_target(self.target)
                moves = self._join(files)
                self.committer.commit(self.context.run_id, moves, [], state)
            return
        pairs = hive.staged_files(ordered)
        partitioned = bool(self._partition_by)
        if not pairs and self.config.mode == "replace" and self._schema and not partitioned:
            empty = self._empty_part()  # an empty replace still shows its columns
            pairs = [(empty[0], posixpath.basename(empty[0]))]
        fields = [self._schema.field(n) for n in self._partition_by] if self._schema else []
        staging = self.committer.staging_dir(self.context.run_id)
        moves, deletes = hive.publish_plan(self.committer, pairs, self.config.mode, fields, staging)
        self.committer.commit(self.context.run_id, moves, deletes, state)

    # -- building the published files ----------------------------------------------------
    def _empty_part(self) -> list[str]:
        folder = self.committer.staging_dir(self.context.run_id)
        path = posixpath.join(folder, f"part-{self.context.run_id}-00000-000{self.extension}")
        assert self._schema is not None
        self.open_writer(path, self._schema, header=True).close()
        return [path]

    def _join(self, parts: list[str]) -> list[tuple[str, str]]:
        """Stage the whole new file: old bytes (append) or a header, then every part.

        Compressed parts are complete gzip/zstd/bz2/lz4 members, and a concatenation of
        members is a valid stream, so parts are joined as raw bytes without recompressing.
        """
        exists = self.fs.exists(self.target)
        if self.config.mode == "append" and exists and not parts:
            return []  # nothing new: the file stays as it is
        folder = self.committer.staging_dir(self.context.run_id)
        joined = posixpath.join(folder, posixpath.basename(self.target))
        head = posixpath.join(folder, "header" + self.extension)
        sources = []
        if self.config.mode == "append" and exists:
            sources.append(self.target)
        elif self._schema is not None:
            self.open_writer(head, self._schema, header=True).close()
            sources.append(head)
        sources += parts
        with self.output(joined, None) as out:
            for source in sources:
                with self.afs.open_input_stream(source, compression=None) as src:
                    while chunk := src.read(COPY_CHUNK):
                        out.write(chunk)
        return [(joined, self.target)]

    def output(self, path: str, compression: str | None) -> Any:
        """An Arrow output stream to `path`, its folder created first."""
        self.afs.create_dir(posixpath.dirname(path), recursive=True)
        return self.afs.open_output_stream(path, compression=compression)

    # -- per format ----------------------------------------------------------------------
    def unsupported(self, field: pa.Field) -> str | None:
        """Why this format cannot hold `field` exactly, or None."""
        return unsupported(field)

    def open_writer(self, path: str, schema: pa.Schema, *, header: bool) -> Any:
        """A writer with `write(batch)` and `close()` into `path` (header if any first)."""
        raise NotImplementedError

    def column_names(self, path: str) -> list[str] | None:
        """The column names a published file holds, or None when it cannot tell."""
        raise NotImplementedError


class CsvStore(TextStore):
    """`type: csv`: CSV parts (or one .csv file), written by Arrow's CSV writer.

    Strings are quoted and NULLs are not, so an empty string and a NULL stay apart.
    """

    config_model = CsvStoreConfig
    arrow_types = EXACT_TYPES
    format = "csv"
    suffixes = (".csv", ".tsv", ".txt")

    def __init__(self, config: CsvStoreConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: CsvStoreConfig = config

    def unsupported(self, field: pa.Field) -> str | None:
        t = field.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            return f"column '{field.name}' is {t}: CSV holds text only; cast it to string first"
        if pa.types.is_nested(t):
            return (
                f"column '{field.name}' is {t}: CSV has no nested values; "
                "flatten or cast the column first, or use a jsonl store"
            )
        if pa.types.is_duration(t) or pa.types.is_interval(t):
            return f"column '{field.name}' is {t}: CSV has no form for it; cast it to int64"
        return None

    @property
    def delimiter(self) -> str:
        if self.config.delimiter:
            return self.config.delimiter
        return "\t" if self.extension.startswith(".tsv") else ","

    def open_writer(self, path: str, schema: pa.Schema, *, header: bool) -> Any:
        stream = self.output(path, self.codec)
        sink: Any = stream
        if self.config.encoding.lower().replace("-", "") not in ("utf8", "ascii"):
            sink = _Recoder(stream, self.config.encoding)
        options = pacsv.WriteOptions(
            include_header=header and self.config.header,
            delimiter=self.delimiter,
            quoting_style=self.config.quoting,
        )
        return _CsvWriter(pacsv.CSVWriter(sink, schema, write_options=options), sink)

    def column_names(self, path: str) -> list[str] | None:
        if not self.config.header:
            return None
        encoding = self.config.encoding
        with open_input(self.afs, path, self.config.compression, encoding) as stream:
            try:
                reader = pacsv.open_csv(
                    stream,
                    read_options=pacsv.ReadOptions(block_size=1 << 16),
                    parse_options=pacsv.ParseOptions(delimiter=self.delimiter),
                )
            except pa.ArrowInvalid:
                return None
            return reader.schema.names


class JsonlStore(TextStore):
    """`type: jsonl`: one JSON object per line, UTF-8, keys in column order."""

    config_model = JsonlStoreConfig
    arrow_types = EXACT_TYPES
    format = "jsonl"
    suffixes = (".jsonl", ".ndjson")

    def open_writer(self, path: str, schema: pa.Schema, *, header: bool) -> Any:
        return _JsonWriter(self.output(path, self.codec))

    def column_names(self, path: str) -> list[str] | None:
        with open_input(self.afs, path, self.config.compression, "utf-8") as stream:
            try:
                reader = pajson.open_json(
                    stream, read_options=pajson.ReadOptions(block_size=1 << 16)
                )
            except pa.ArrowInvalid:
                return None
            return reader.schema.names


class _CsvWriter:
    def __init__(self, writer: pacsv.CSVWriter, sink: Any) -> None:
        self.writer, self.sink = writer, sink

    def write(self, batch: pa.RecordBatch) -> None:
        self.writer.write_batch(batch)

    def close(self) -> None:
        self.writer.close()
        self.sink.close()


class _JsonWriter:
    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, batch: pa.RecordBatch) -> None:
        self.stream.write(encode(batch))

    def close(self) -> None:
        self.stream.close()


class _Recoder:
    """A byte sink that re-encodes Arrow's UTF-8 output (e.g. to latin-1) on the way out."""

    def __init__(self, out: Any, encoding: str) -> None:
        self.out = out
        self.encoding = encoding
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.closed = False

    def write(self, data: Any) -> int:
        text = self.decoder.decode(memoryview(data).tobytes())
        try:
            self.out.write(text.encode(self.encoding))
        except UnicodeEncodeError as exc:
            raise PermanentError(
                f"cannot write {exc.object[exc.start : exc.end]!r} in {self.encoding}; "
                "choose an encoding that holds it (utf-8 holds everything)"
            ) from None
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.out.close()
