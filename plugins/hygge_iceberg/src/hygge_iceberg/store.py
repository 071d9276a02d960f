"""The Iceberg store: data files written in the table's data folder, published by one
catalog commit that also carries the flow's state.

How a run stays exactly-once:
- `prepare` creates the table if it is missing (schema from Arrow, `partition_by:` as
  Iceberg transforms) and leaves a marker `_hygge/iceberg/<tag>/runs/<run>.json` in the
  table's folder before any data file is written.
- `stage` writes Parquet files under `data/` with names only this run, unit and attempt can
  produce, one partition value per file. No snapshot references them: no reader sees them.
- `commit` is one Iceberg transaction: the files are added (`add_files`; `replace` first
  deletes every row, `merge` upserts on `keys:`), every snapshot it makes carries
  `hygge.flow` and `hygge.run_id` in its summary, and the table property
  `hygge.state.<tag>` receives the flow's new state. The catalog swaps the metadata pointer
  atomically: all of it lands or none does.
- After a crash, `recover` reads each dead run's marker: if the table's state property names
  that run, it committed and only its unused files go; otherwise every file it wrote goes.
  An attempt retried after its commit landed finds its run id there and does not commit
  again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import posixpath
import secrets
from functools import cached_property
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from hygge_core import (
    FileCommitter,
    FlowContext,
    FlowState,
    PermanentError,
    SchemaDriftError,
    StagedUnit,
    Store,
    TransientError,
    WorkUnit,
    arrow_filesystem,
    changes,
    first_line,
)
from hygge_core.faults import fault_point
from hygge_core.files import InPlaceRuns, PartitionedWriter, conform
from hygge_iceberg.catalog import open_catalog
from hygge_iceberg.config import IcebergStoreConfig, parse_partition

META = "_hygge"
STAGING = "_hygge_staging"  # merge sources: their rows land through pyiceberg's upsert


def flow_tag(flow: str) -> str:
    """A short, path- and property-safe name for a flow (flow names are free text)."""
    return hashlib.sha256(flow.encode()).hexdigest()[:12]


class IcebergStore(Store):
    """An Apache Iceberg table, written exactly once per committed run (see the module
    docstring). Modes: `append`, `replace` (every row replaced in one commit), `merge`
    (upsert on `keys:`)."""

    config_model = IcebergStoreConfig
    modes = frozenset({"append", "replace", "merge"})
    transient = ("catalog", "fs", "afs", "committer", "iceberg", "runs")
    supports_resume = False
    fault_points = ("commit.published", "commit.cleaned")
    # Iceberg keeps microsecond timestamps in UTC or without a zone; another zone's
    # instants come back in UTC, so `timestamp_tz` is not claimed exact.
    arrow_types = frozenset(
        {"int32", "int64", "float64", "bool", "string", "timestamp", "date", "decimal", "binary"}
    )

    def __init__(self, config: IcebergStoreConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: IcebergStoreConfig = config
        self.tag = flow_tag(context.flow)
        self.prop = f"hygge.state.{self.tag}"
        self._schema: pa.Schema | None = None
        self._location: str | None = None
        self._marked = False
        self._evolved = False  # the table's columns changed since its last snapshot
        self._spec: list[tuple[str, str, str]] = []
        self._types: dict[str, Any] = {}

    # ---- where -------------------------------------------------------------------------

    @cached_property
    def catalog(self) -> Any:
        return open_catalog(self.config, self.context)

    def _load(self) -> Any | None:
        from pyiceberg.exceptions import NoSuchTableError

        try:
            return self.catalog.load_table(self.config.table)
        except NoSuchTableError:
            return None
        except Exception as exc:
            raise PermanentError(f"iceberg table {self.config.table}: {first_line(exc)}") from None

    def _require(self) -> Any:
        table = self._load()
        if table is None:
            raise PermanentError(f"iceberg table {self.config.table} disappeared during the run")
        return table

    @property
    def location(self) -> str:
        """The table's folder as hygge's storage names it (`file://` dropped)."""
        if self._location is None:
            table = self._load()
            if table is None:
                raise RuntimeError("the table's location is known once it exists")
            self._location = table.location().removeprefix("file://").rstrip("/")
        return self._location

    @cached_property
    def fs(self) -> Any:
        return self.context.filesystem(self.location, self.config.connection)[0]

    @cached_property
    def root(self) -> str:
        return self.context.filesystem(self.location, self.config.connection)[1].rstrip("/")

    @cached_property
    def afs(self) -> Any:
        return arrow_filesystem(self.fs)

    @cached_property
    def committer(self) -> FileCommitter:
        """hygge's file protocol over the table folder: the flow lock, atomic small files."""
        atomic = self.context.storage.is_atomic_rename(self.location)
        return FileCommitter(self.fs, self.root, self.context.flow, atomic_rename=atomic)

    def _meta(self, *parts: str) -> str:
        return posixpath.join(self.root, META, "iceberg", self.tag, *parts)

    # ---- lifecycle ---------------------------------------------------------------------

    def describe(self) -> str:
        return f"iceberg {self.config.table} ({self.config.mode})"

    def check(self) -> str | None:
        try:
            self.catalog.list_namespaces()
        except PermanentError as exc:
            return str(exc)
        except Exception as exc:
            return f"iceberg catalog: {first_line(exc)}"
        return None

    def lock(self) -> Any:
        """The flow lock, in the warehouse folder when there is one (so two first runs of
        a flow cannot both create and fill the table), else in the table's folder."""
        warehouse = self.config.warehouse or (
            self.config.catalog.warehouse if self.config.catalog else None
        )
        if warehouse is None and self._load() is None:
            return contextlib.nullcontext()  # the catalog refuses a second create
        where = warehouse.removeprefix("file://") if warehouse else self.location
        fs, root = self.context.filesystem(where, self.config.connection)
        atomic = self.context.storage.is_atomic_rename(where)
        return FileCommitter(fs, root.rstrip("/"), self.context.flow, atomic_rename=atomic).lock()

    @cached_property
    def runs(self) -> InPlaceRuns:
        """The flow's run markers and the cleanup of its unpublished files."""
        return InPlaceRuns(
            self.committer,
            meta=self._meta(),
            files=posixpath.join(self.root, "data"),
            prefix=f"hygge-{self.tag}-",
            staging=posixpath.join(self.root, STAGING, self.tag),
        )

    def recover(self) -> list[str]:
        table = self._load()
        if table is None:
            return []
        committed = self._committed_run(table)
        referenced: list[set[str]] = []  # read once, and only if a committed run settles

        def keep(run: str, record: dict[str, Any]) -> set[str] | None:
            if run != committed:
                return None
            if not referenced:
                referenced.append(_referenced(table))
            return referenced[0]

        return self.runs.recover(self.context.run_id, keep)

    def _committed_run(self, table: Any) -> str | None:
        raw = table.properties.get(self.prop)
        return json.loads(raw).get("run_id") if raw else None

    def read_state(self) -> FlowState | None:
        table = self._load()
        raw = table.properties.get(self.prop) if table is not None else None
        if not raw:
            return None
        state = json.loads(raw).get("state")
        return FlowState.model_validate_json(state) if state else None

    def reset_state(self) -> bool:
        table = self._load()
        if table is None or not table.properties.get(self.prop):
            return False
        had = self.read_state() is not None
        with table.transaction() as tx:
            tx.remove_properties(self.prop)
        return had

    def prepare(self, schema: pa.Schema) -> None:
        incoming = _iceberg_arrow(schema)
        table = self._load()
        if table is None:
            table = self._create(incoming)
        existing = table.schema().as_arrow()
        self._check_drift(existing, incoming)
        evolve = self.context.schema_drift == "evolve"
        added = [n for n in incoming.names if n not in existing.names]
        if evolve and (self.config.mode == "replace" or added):
            # The columns (NULL in older rows) come in a catalog commit of their own, before
            # any data file is written: a failed run leaves them, and its rerun adds none.
            with table.update_schema() as update:
                update.union_by_name(incoming)
            table = self._require()
            existing = table.schema().as_arrow()
        self._schema = pa.schema([existing.field(n) for n in existing.names if n in incoming.names])
        # The last snapshot was written in an older schema (columns added since, by this run
        # or by one that crashed after adding them): see `_publish`.
        last = table.current_snapshot()
        self._evolved = last is not None and last.schema_id != table.schema().schema_id
        iceberg = table.schema()
        self._spec = [
            (field.name, str(field.transform), iceberg.find_column_name(field.source_id))
            for field in table.spec().fields
        ]
        self._types = {name: iceberg.find_field(name).field_type for _, _, name in self._spec}
        for key in self.config.keys or []:
            if key not in incoming.names:
                raise PermanentError(f"key column '{key}' is not a column of the data")
        if self.config.mode == "merge" and changes.is_change_log(incoming):
            unordered = [c for c in changes.ORDER if c not in incoming.names]
            if unordered:
                raise PermanentError(
                    f"iceberg table {self.config.table}: the home sends changes "
                    f"({changes.OP}) without the column(s) {', '.join(unordered)} that order "
                    "them; a merge cannot tell which change of a key is the last"
                )
        self._location = table.location().removeprefix("file://").rstrip("/")
        if not self._marked:
            self.runs.mark(self.context.run_id)
            self._marked = True

    def _create(self, schema: pa.Schema) -> Any:
        from pyiceberg.exceptions import NamespaceAlreadyExistsError, TableAlreadyExistsError
        from pyiceberg.transforms import parse_transform

        namespace = self.config.table.rsplit(".", 1)[0]
        with contextlib.suppress(NamespaceAlreadyExistsError):
            self.catalog.create_namespace(namespace)
        spec_fields = []
        for n, item in enumerate(self.config.partition_by or []):
            column, transform, arg = parse_partition(item)
            if column not in schema.names:
                raise PermanentError(
                    f"partition_by '{item}': '{column}' is not a column of the data "
                    f"({', '.join(schema.names)})"
                )
            name = column if transform == "identity" else f"{column}_{transform}"
            text = f"{transform}[{arg}]" if arg is not None else transform
            spec_fields.append((column, text, name, 1000 + n))
        try:
            table = self.catalog.create_table(
                self.config.table, schema=schema, properties=self.config.table_properties
            )
        except TableAlreadyExistsError:
            return self._require()  # another first run created it meanwhile
        if spec_fields:
            with table.update_spec() as update:
                for column, text, name, _ in spec_fields:
                    update.add_field(column, parse_transform(text), name)
            table = self._require()
        return table

    def _check_drift(self, existing: pa.Schema, incoming: pa.Schema) -> None:
        evolve = self.context.schema_drift == "evolve"
        if self.config.mode == "replace" and evolve:
            return
        old = {f.name: f.type for f in existing}
        new = {f.name: f.type for f in incoming}
        lines = [
            f"  - {n}: missing from the data (table has {t})"
            for n, t in old.items()
            if n not in new
        ]
        if not evolve:  # under `evolve`, new columns are added to the table
            lines += [
                f"  + {n}: {t} is not a column of the table" for n, t in new.items() if n not in old
            ]
        lines += [
            f"  ~ {n}: table has {old[n]}, data has {t}"
            for n, t in new.items()
            if n in old and _plain(old[n]) != _plain(t)
        ]
        if lines:
            raise SchemaDriftError(
                f"store {self.config.table}: the data does not match the Iceberg table's "
                "schema:\n"
                + "\n".join(lines)
                + "\n  hint: set schema_drift: evolve to add new columns to the table, or "
                "use mode: replace with schema_drift: evolve to give the table the new columns"
            )

    def _prepared(self) -> pa.Schema:
        if self._schema is None:
            raise RuntimeError("the store was used before prepare()")
        return self._schema

    def stage(self, unit: WorkUnit, batches: Any) -> StagedUnit:
        schema = self._prepared()
        merge = self.config.mode == "merge"
        prefix = f"hygge-{self.tag}-{self.context.run_id}-{unit.seq:05d}-{secrets.token_hex(3)}"
        root = (
            posixpath.join(self.root, STAGING, self.tag, self.context.run_id)
            if merge
            else posixpath.join(self.root, "data")
        )
        compression = None if self.config.compression == "none" else self.config.compression
        writer = PartitionedWriter(
            self.afs,
            root,
            prefix,
            schema,
            folder=self._folder,
            row_group_rows=self.config.row_group_rows,
            file_rows=self.config.file_rows,
            writer_options={"compression": compression},
            memory=self.context.memory,
        )
        rows = nbytes = 0
        try:
            for batch in batches:
                table = conform(pa.Table.from_batches([batch]), schema, "the Iceberg table")
                writer.write(table, None if merge else self._keys(table))
                rows += table.num_rows
                nbytes += table.nbytes
        except BaseException:
            writer.discard()
            raise
        files = [{"path": posixpath.join(root, f.path), "key": list(f.key)} for f in writer.close()]
        return StagedUnit(unit.id, rows, nbytes, {"files": files})

    def _folder(self, key: tuple[Any, ...]) -> str:
        """`field=value/...` for a partition key (merge sources are not split: no key)."""
        if not key:
            return ""
        return "/".join(
            f"{name}={'null' if v is None else quote(str(v), safe=' -_.~+')}"
            for (name, _, _), v in zip(self._spec, key, strict=True)
        )

    def _keys(self, table: pa.Table) -> pa.Table | None:
        """Each row's partition value under every field of the table's spec."""
        if not self._spec:
            return None
        from pyiceberg.transforms import parse_transform

        columns = {}
        for name, transform, source in self._spec:
            t = parse_transform(transform)
            column = table[source]
            if transform == "identity":
                columns[name] = column
                continue
            columns[name] = t.pyarrow_transform(self._types[source])(column)
        return pa.table(columns)

    def commit(self, staged: list[StagedUnit], state: FlowState) -> None:
        table = self._require()
        if self._committed_run(table) == self.context.run_id:
            # An earlier attempt of this run committed (its reply was lost): do not add
            # its rows twice; drop what this attempt wrote.
            self._cleanup(self.context.run_id, table)
            self._forget_run()
            return
        files = [f for s in staged for f in s.payload["files"]]
        try:
            self._publish(table, files, state)
        except Exception as exc:
            from pyiceberg.exceptions import CommitFailedException

            if isinstance(exc, CommitFailedException):
                # Another writer committed first: nothing of ours landed; the attempt is
                # retried from the start (re-reading the table).
                raise TransientError(
                    f"iceberg table {self.config.table}: a concurrent commit conflicts with "
                    f"this run ({first_line(exc)})"
                ) from None
            if isinstance(exc, ValueError | pa.ArrowInvalid):
                raise PermanentError(
                    f"iceberg table {self.config.table}: {first_line(exc)}"
                ) from None
            raise
        fault_point("commit.published")  # the catalog swapped; the bookkeeping follows
        self.runs.remove_staging(self.context.run_id)
        fault_point("commit.cleaned")
        self._forget_run()

    def _publish(self, table: Any, files: list[dict[str, Any]], state: FlowState) -> None:
        """The one catalog commit of the run: data, snapshot summary and state together."""
        from pyiceberg.expressions import AlwaysTrue
        from pyiceberg.table import TableProperties

        summary = {"hygge.flow": self.context.flow, "hygge.run_id": self.context.run_id}
        value = json.dumps({"run_id": self.context.run_id, "state": state.model_dump_json()})
        with table.transaction() as tx:
            if self.config.mode == "replace" and table.current_snapshot() is not None:
                tx.delete(AlwaysTrue(), snapshot_properties=summary)
            if self.config.mode == "merge":
                if files:
                    source = pads.dataset(
                        [f["path"] for f in files],
                        schema=self._prepared(),
                        format="parquet",
                        filesystem=self.afs,
                    ).to_table()
                    if changes.is_change_log(source.schema):
                        # A change log (hygge_core.changes): each key's last change counts;
                        # every changed key's row goes, and the ones not deleted come back.
                        from pyiceberg.table.upsert_util import create_match_filter

                        latest = changes.latest_changes(source, self.config.keys or [])
                        live = latest.filter(pc.not_equal(latest[changes.OP], changes.DELETE))
                        match = create_match_filter(latest, self.config.keys or [])
                        if table.current_snapshot() is not None:
                            tx.delete(match, snapshot_properties=summary)
                        if live.num_rows:
                            tx.append(live, snapshot_properties=summary)
                    elif self._evolved:
                        # pyiceberg's upsert reads the matched rows in the schema of the
                        # last snapshot, which lacks the new columns: delete the rows whose
                        # keys come and append every source row instead (the same result).
                        from pyiceberg.table.upsert_util import create_match_filter

                        match = create_match_filter(source, self.config.keys or [])
                        tx.overwrite(source, overwrite_filter=match, snapshot_properties=summary)
                    else:
                        tx.upsert(source, join_cols=self.config.keys, snapshot_properties=summary)
            elif files:
                if tx.table_metadata.name_mapping() is None:
                    # hygge's files carry column names, not Iceberg field ids.
                    mapping = tx.table_metadata.schema().name_mapping.model_dump_json()
                    tx.set_properties({TableProperties.DEFAULT_NAME_MAPPING: mapping})
                data_files = [
                    _data_file(tx.table_metadata, table.io, self._uri(f["path"]), f["key"])
                    for f in files
                ]
                with tx.update_snapshot(snapshot_properties=summary).fast_append() as append:
                    for data_file in data_files:
                        append.append_data_file(data_file)
            tx.set_properties({self.prop: value})

    def _uri(self, path: str) -> str:
        """A path as `fs` names it, as the URI Iceberg's metadata holds (`s3://b/k`)."""
        scheme = (
            self._location.split("://", 1)[0]
            if self._location and "://" in self._location
            else "file"
        )
        return f"{scheme}://{path}"

    def abort(self, staged: list[StagedUnit]) -> None:
        if not self._marked:
            return
        table = self._load()
        landed = table is not None and self._committed_run(table) == self.context.run_id
        self._cleanup(self.context.run_id, table if landed else None)
        self._forget_run()

    # ---- housekeeping ------------------------------------------------------------------

    def _cleanup(self, run: str, table: Any | None) -> int:
        """Delete the data files `run` wrote that no snapshot references (all of them when
        `table` is None: the run never committed). Returns how many went."""
        return self.runs.cleanup(run, _referenced(table) if table is not None else None)

    def leftovers(self) -> list[str]:
        """Files of this flow no snapshot references, staging and run markers: what
        `recover` removes."""
        table = self._load()
        if table is None:
            return []
        return self.runs.leftovers(_referenced(table), markers=True)

    def _forget_run(self) -> None:
        self.runs.forget(self.context.run_id)
        self._marked = False


def _data_file(metadata: Any, io: Any, uri: str, key: list[Any]) -> Any:
    """A DataFile for a Parquet file hygge wrote: statistics from its footer, and the
    partition value hygge computed when it split the rows (so every transform works,
    bucket and truncate included, which pyiceberg's `add_files` cannot infer)."""
    import pyarrow.parquet as pq
    from pyiceberg.io.pyarrow import (
        compute_statistics_plan,
        data_file_statistics_from_parquet_metadata,
        parquet_path_to_id_mapping,
    )
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
    from pyiceberg.partitioning import partition_record_value
    from pyiceberg.typedef import Record

    source = io.new_input(uri)
    with source.open() as stream:
        footer = pq.read_metadata(stream)
    schema = metadata.schema()
    statistics = data_file_statistics_from_parquet_metadata(
        parquet_metadata=footer,
        stats_columns=compute_statistics_plan(schema, metadata.properties),
        parquet_column_mapping=parquet_path_to_id_mapping(schema),
    )
    spec = metadata.spec()
    partition = Record(
        *[partition_record_value(f, v, schema) for f, v in zip(spec.fields, key, strict=True)]
    )
    return DataFile.from_args(
        content=DataFileContent.DATA,
        file_path=uri,
        file_format=FileFormat.PARQUET,
        partition=partition,
        file_size_in_bytes=len(source),
        sort_order_id=None,
        spec_id=metadata.default_spec_id,
        equality_ids=None,
        key_metadata=None,
        **statistics.to_serialized_dict(),
    )


def _strip(uri: str) -> str:
    """A URI of Iceberg's metadata as hygge's filesystems name it (`s3://b/k` → `b/k`,
    `file:///x` → `/x`)."""
    return uri.split("://", 1)[1] if "://" in uri else uri


def _referenced(table: Any) -> set[str]:
    """Every data file any snapshot still in the table's metadata references."""
    paths: set[str] = set()
    for snapshot in table.metadata.snapshots:
        for manifest in snapshot.manifests(table.io):
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
                paths.add(_strip(entry.data_file.file_path))
    return paths


def _iceberg_arrow(schema: pa.Schema) -> pa.Schema:
    """`schema` with what Iceberg cannot hold made to fit (time zones → UTC, uint → int,
    large → plain, ns → us), refusing what does not fit at all."""
    fields = []
    for f in schema:
        t = f.type
        if pa.types.is_timestamp(t):
            t = pa.timestamp("us", "UTC" if t.tz else None)
        elif pa.types.is_large_string(t):
            t = pa.string()
        elif pa.types.is_large_binary(t):
            t = pa.binary()
        elif t in (pa.uint8(), pa.uint16()):
            t = pa.int32()
        elif t in (pa.uint32(), pa.uint64()):
            t = pa.int64()
        elif t in (pa.int8(), pa.int16()):
            t = pa.int32()
        elif pa.types.is_dictionary(t):
            t = t.value_type
        elif pa.types.is_duration(t) or pa.types.is_interval(t) or pa.types.is_null(t):
            raise PermanentError(
                f"column '{f.name}' has type {t}, which an Iceberg table cannot hold; cast it "
                "in the home or drop it with columns:"
            )
        fields.append(pa.field(f.name, t, nullable=True))
    return pa.schema(fields)


def _plain(t: pa.DataType) -> pa.DataType:
    """`t` with Arrow's large variants made plain: the same Iceberg type either way."""
    if pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(_plain(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _plain(f.type)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(_plain(t.key_type), _plain(t.item_type))
    return t
