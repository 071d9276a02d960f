"""The Parquet store: part files staged per work unit, published by hygge's commit record."""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field, field_validator, model_validator

from hygge_core import (
    ConfigError,
    FileStore,
    FlowContext,
    FlowMemory,
    FlowState,
    PermanentError,
    Problem,
    SchemaDriftError,
    StagedUnit,
    WorkUnit,
    drift,
    evolved,
    fill_columns,
    hive,
)
from hygge_core import parquet_encodings as encodings
from hygge_core.files import HiveStoreConfig, PartitionedWriter
from hygge_core.parquet_encodings import EncodingOptionError, EncodingPlan

# Held while a store chooses its encodings, so that units starting together (one per core)
# do not each pay for the choice: the first chooses, the others take its plan.
_CHOOSING = threading.Lock()


class ParquetStoreConfig(HiveStoreConfig):
    """`store: {type: parquet, ...}`."""

    path: str = Field(description="the directory that holds the part files")
    compression: Literal["snappy", "zstd", "gzip", "brotli", "lz4", "none"] = Field(
        default="snappy", description="codec of every column"
    )
    compression_level: int | None = Field(default=None, description="codec level, if any")
    row_group_rows: int = Field(default=131_072, ge=1, description="rows per row group")
    file_rows: int = Field(default=10_000_000, ge=1, description="rows per part file at most")
    dictionary: bool | list[str] | None = Field(
        default=None,
        description="dictionary-encode every column (true), none (false) or exactly these; "
        "default: chosen per column from the data",
    )
    encoding: dict[str, str] = Field(
        default_factory=dict,
        description="Parquet encoding per column (PLAIN, DELTA_BINARY_PACKED, "
        "DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY, BYTE_STREAM_SPLIT, RLE); "
        "default: chosen per column from the data",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encodings(cls, value: dict[str, str]) -> dict[str, str]:
        value = {column: enc.upper() for column, enc in value.items()}
        for column, enc in value.items():
            if enc not in encodings.ENCODINGS:
                raise ValueError(
                    f"column '{column}': unknown encoding '{enc}'; "
                    f"valid: {', '.join(encodings.ENCODINGS)}"
                )
        return value

    @model_validator(mode="after")
    def _dictionary_or_encoding(self) -> ParquetStoreConfig:
        if isinstance(self.dictionary, list):
            both = [c for c in self.dictionary if c in self.encoding]
            if both:
                raise ValueError(
                    f"column(s) {', '.join(both)} are under both dictionary and encoding; "
                    "a column is either dictionary-encoded or takes its encoding: "
                    "keep one of the two entries"
                )
        return self


class ParquetStore(FileStore):
    """A directory of Parquet part files, written exactly once per committed run.

    Each unit writes `part-<run>-<unit>-<n>.parquet` under the run's staging folder; commit
    moves them into place through `FileCommitter`, whose record also carries the flow state,
    so data and state change together. `replace` deletes the files that were published
    before, in the same commit.
    """

    config_model = ParquetStoreConfig
    modes = frozenset({"append", "replace", "replace_partitions"})

    def __init__(self, config: ParquetStoreConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: ParquetStoreConfig = config
        # The first plan made from a full sample, shared by the run's later units.
        self._plan: EncodingPlan | None = None

    def describe(self) -> str:
        return f"parquet {self.config.path} ({self.config.mode})"

    @property
    def _partition_by(self) -> list[str]:
        return self.config.partition_by or []

    def prepare(self, schema: pa.Schema) -> None:
        self._schema = schema
        self._target: pa.Schema | None = None
        existing = self.committer.data_files()
        hive.check_layout(self.committer, schema, self.config, self.context.schema_drift, existing)
        # The files hold every column but the partition columns (those are in the folders).
        schema = pa.schema([f for f in schema if f.name not in self._partition_by])
        self._check_encodings(schema)
        if self.config.mode == "replace":
            return  # a replace may change the schema freely: nothing old stays visible
        if not existing:
            return
        last = existing[-1]
        try:
            current = pq.read_schema(self.afs.open_input_file(last)).remove_metadata()
        except (pa.ArrowInvalid, OSError) as exc:
            raise PermanentError(
                f"store {self.config.path}: {last} is not a readable Parquet file ({exc}); "
                "move it out of the store folder (hygge skips only names that start with "
                "'_' or '.'), or write to another folder"
            ) from None
        problem = drift(current, schema, self.context.schema_drift)
        if problem:
            raise SchemaDriftError(f"store {self.config.path}: {problem}")
        if self.context.schema_drift == "evolve":
            # Files written from now on keep every column the store holds: one the home
            # dropped is written as NULLs, so the folder reads as one schema.
            self._target = evolved(current, schema)

    def _check_encodings(self, schema: pa.Schema) -> None:
        """`dictionary:` and `encoding:` must name columns of the data, in encodings their
        types take: checked before anything is written."""
        try:
            encodings.check_options(schema, self.config.dictionary, self.config.encoding)
        except EncodingOptionError as exc:
            raise ConfigError(
                [
                    Problem(
                        exc.message,
                        flow=self.context.flow,
                        side="store",
                        field=exc.field_name,
                        hint=exc.hint,
                    )
                ]
            ) from None

    @property
    def _compression(self) -> str | None:
        return None if self.config.compression == "none" else self.config.compression

    def _encodings(self, group: pa.Table) -> EncodingPlan:
        """Each column's encoding, chosen from a unit's first row group and kept for every
        file of the unit. A plan made from a full sample is kept for the run's later units
        too: the choice costs a few percent of writing one unit."""
        with _CHOOSING:
            if self._plan is not None:
                return self._plan
            plan = encodings.choose(
                group,
                rows_per_group=self.config.row_group_rows,
                compression=self._compression,
                dictionary=self.config.dictionary,
                encoding=self.config.encoding,
            )
            if group.num_rows >= encodings.SAMPLE_ROWS:
                self._plan = plan
            return plan

    def _options(self, plan: EncodingPlan) -> dict[str, Any]:
        """The `ParquetWriter` options of a file written by `plan` with the store's codec."""
        return {
            "compression": plan.codecs(self._compression),
            "compression_level": plan.levels(self.config.compression_level),
            **plan.writer_options(),
        }

    def _writer(self, path: str, schema: pa.Schema, plan: EncodingPlan) -> pq.ParquetWriter:
        self.afs.create_dir(posixpath.dirname(path), recursive=True)
        return pq.ParquetWriter(path, schema, filesystem=self.afs, **self._options(plan))

    def stage(self, unit: WorkUnit, batches: Iterable[pa.RecordBatch]) -> StagedUnit:
        if self._partition_by:
            return self._stage_partitioned(unit, batches)
        folder = self.committer.staging_dir(self.context.run_id)
        files: list[str] = []
        rows = nbytes = 0
        writer: pq.ParquetWriter | None = None
        plan: EncodingPlan | None = None
        in_file = 0
        memory = self.context.memory
        try:
            target = getattr(self, "_target", None)
            for read in _row_groups(batches, self.config.row_group_rows, memory):
                held = read.nbytes
                group = read if target is None else fill_columns(read, target)
                del read
                if writer is None or in_file >= self.config.file_rows:
                    if writer is not None:
                        writer.close()
                    name = f"part-{self.context.run_id}-{unit.seq:05d}-{len(files):03d}.parquet"
                    files.append(posixpath.join(folder, name))
                    if plan is None:
                        plan = self._encodings(group)
                    writer = self._writer(files[-1], group.schema, plan)
                    in_file = 0
                writer.write_table(group, row_group_size=self.config.row_group_rows)
                in_file += group.num_rows
                rows += group.num_rows
                nbytes += held
                memory.hold(-held)
                # Let the written row group go now: the loop variable would keep it alive
                # while the next one gathers, two row groups per unit in memory.
                del group
        finally:
            # Closed on failure too, before abort runs: an object-store writer left open
            # would upload its part later, after abort cleaned the staging folder.
            if writer is not None:
                writer.close()
        return StagedUnit(unit.id, rows, nbytes, {"files": files})

    def _stage_partitioned(self, unit: WorkUnit, batches: Iterable[pa.RecordBatch]) -> StagedUnit:
        """Stage a unit's rows under `col=value/` folders, one open file per partition,
        the partition columns left out of the files (they are in the folder names)."""
        staging = self.committer.staging_dir(self.context.run_id)
        names = self._partition_by
        memory = self.context.memory
        writer: PartitionedWriter | None = None
        rows = nbytes = 0
        try:
            for group in _row_groups(batches, self.config.row_group_rows, memory):
                data = group.drop_columns(names)
                if writer is None:
                    options = self._options(self._encodings(data))
                    writer = PartitionedWriter(
                        self.afs,
                        staging,
                        f"part-{self.context.run_id}-{unit.seq:05d}",
                        data.schema,
                        folder=lambda key: hive.folder(names, key),
                        row_group_rows=self.config.row_group_rows,
                        file_rows=self.config.file_rows,
                        writer_options=options,
                        memory=memory,  # past half the writer share, it writes early
                    )
                writer.write(data, group.select(names))
                rows += group.num_rows
                nbytes += group.nbytes
                memory.hold(-group.nbytes)
                del group, data
            written = writer.close() if writer is not None else []
        except BaseException:
            if writer is not None:  # closed before abort runs (see `stage`)
                writer.discard()
            raise
        files = [posixpath.join(staging, w.path) for w in written]
        return StagedUnit(
            unit.id, rows, nbytes, {"files": files, "names": [w.path for w in written]}
        )

    def commit(self, staged: list[StagedUnit], state: FlowState) -> None:
        pairs = hive.staged_files(staged)
        schema = getattr(self, "_schema", None)
        if not pairs and self.config.mode == "replace" and schema and not self._partition_by:
            # An empty replace still leaves a file, so readers keep the schema.
            empty = self._empty_file()
            pairs = [(empty, posixpath.basename(empty))]
        fields = [schema.field(n) for n in self._partition_by] if schema else []
        staging = self.committer.staging_dir(self.context.run_id)
        moves, deletes = hive.publish_plan(self.committer, pairs, self.config.mode, fields, staging)
        self.committer.commit(self.context.run_id, moves, deletes, state)

    def _empty_file(self) -> str:
        folder = self.committer.staging_dir(self.context.run_id)
        path = posixpath.join(folder, f"part-{self.context.run_id}-00000-000.parquet")
        plan = self._encodings(self._schema.empty_table())
        self._writer(path, self._schema, plan).close()
        return path


def _row_groups(
    batches: Iterable[pa.RecordBatch], rows: int, memory: FlowMemory
) -> Iterator[pa.Table]:
    """Regroup a batch stream into tables of `rows` rows, so row groups get the configured
    size whatever batch size the home yields (row-group size drives Parquet speed).

    A group is written out before it has `rows` rows when its bytes reach half of the
    unit's writer share (the encoder holds the group's encoded, compressed pages beside it
    until the group is done, about half the group's size more): the row group
    is smaller, the flow stays within its budget, and `memory.flushed()` records it so the
    run says so. The bytes gathered are counted as held until the caller writes the group.
    """
    limit = max(1, memory.share.writer // 2)
    pending: list[pa.RecordBatch] = []
    count = size = 0
    for batch in batches:
        if pending and size + batch.nbytes > limit:
            # More rows came than the share holds: write what gathered as a smaller group.
            memory.flushed()
            group = pa.Table.from_batches(pending)
            memory.hold(group.nbytes - size)
            pending, count, size = [], 0, 0
            yield group
            del group
        pending.append(batch)
        count += batch.num_rows
        size += batch.nbytes
        memory.hold(batch.nbytes)
        while count >= rows:
            table = pa.Table.from_batches(pending)
            group, rest = table.slice(0, rows), table.slice(rows)
            pending = rest.to_batches() if rest.num_rows else []
            count = rest.num_rows
            # The caller releases the group's bytes once written; what stays pending is
            # counted again below, so the sum matches what is held.
            memory.hold(group.nbytes + rest.nbytes - size)
            size = rest.nbytes
            # Hold no reference across the yield beyond `group` itself, and drop that as
            # soon as the writer is done with it: otherwise a written row group stays alive
            # while the next one gathers (measured: 5M rows in two units peaked at 715 MB
            # instead of 455 MB).
            del table, rest
            yield group
            del group
    if count:
        group = pa.Table.from_batches(pending)
        memory.hold(group.nbytes - size)
        yield group
