"""The Delta store: data files written in place, published by one Delta log commit.

How a run stays exactly-once:
- `prepare` picks the run's transaction number `V` (the flow's last committed number in the
  log's application transactions, plus one) and leaves a marker `_hygge/delta/<tag>/runs/
  <run>.json` holding it, before any file is written.
- `stage` writes Parquet data files under names that only this run, unit and attempt can
  produce. The log does not reference them, so no Delta reader sees them.
- `commit` writes one log entry that adds the files (and, per mode, removes the files they
  replace), carries the application transaction `(hygge:<flow>, V)` and the flow's new state
  in its commit info. Delta commits are atomic: the entry is there or it is not.
- After a crash, `recover` looks at each dead run's marker: if the log's transaction number
  for the flow reached `V`, the run committed and only its unreferenced files go; otherwise
  every file it wrote goes. Within one run, an attempt retried after its commit landed
  (a lost reply) sees `V` in the log and does not commit again.
- The flow's state lives in the commit info of its last commit (`hygge.state`), found by
  its transaction number; `_hygge/delta/<tag>/state.json` caches it so a run need not read
  the log's history, and is checked against the log's number before it is trusted.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import secrets
import time
from functools import cached_property
from typing import Any
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.dataset as pads
from deltalake import CommitProperties, DeltaTable, Schema, Transaction
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

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
    changes,
    first_line,
)
from hygge_core.faults import fault_point
from hygge_core.files import InPlaceRuns, conform
from hygge_delta.config import DeltaStoreConfig
from hygge_delta.datafiles import DataFileWriter, check_partition_column, partition_text
from hygge_delta.location import TablePlace
from hygge_delta.types import delta_schema

META = "_hygge"
STAGING = "_hygge_staging"  # merge sources only: their rows land through Delta's MERGE
LOG = "_delta_log"


def flow_tag(flow: str) -> str:
    """A short, path-safe name for a flow inside a table folder (flow names are free text)."""
    return hashlib.sha256(flow.encode()).hexdigest()[:12]


class DeltaStore(TablePlace, Store):
    """A Delta Lake table, written exactly once per committed run (see the module docstring).

    Modes: `append`; `replace` (every current file removed in the same commit); `merge`
    (upsert on `keys:` through Delta's MERGE); `replace_partitions` (only the partitions
    present in the run's data are replaced). A new table is created by the first commit,
    partitioned by `partition_by:`.
    """

    config_model = DeltaStoreConfig
    modes = frozenset({"append", "replace", "merge", "replace_partitions"})
    transient = ("fs", "root", "afs", "location", "committer", "runs")
    supports_resume = False
    fault_points = ("commit.logged", "commit.cached")  # after the log entry, after the cache
    # The kit's types the table keeps exactly. A time zone other than UTC is kept as the
    # same instants in UTC (Delta has one zone), so `timestamp_tz` is left out.
    arrow_types = frozenset(
        {"int32", "int64", "float64", "bool", "string", "timestamp", "date", "decimal", "binary"}
    )

    def __init__(self, config: DeltaStoreConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: DeltaStoreConfig = config
        self.tag = flow_tag(context.flow)
        self.app_id = f"hygge:{context.flow}"
        self._version: int | None = None
        self._schema: pa.Schema | None = None
        self._partition_by: list[str] = list(config.partition_by or [])
        self._added: list[pa.Field] = []  # columns `evolve` gives the table at commit

    # ---- where -------------------------------------------------------------------------

    @cached_property
    def committer(self) -> FileCommitter:
        """hygge's file protocol, used here for the flow lock and atomic small writes."""
        atomic = self.context.storage.is_atomic_rename(self.config.path)
        return FileCommitter(self.fs, self.root, self.context.flow, atomic_rename=atomic)

    def _meta(self, *parts: str) -> str:
        return posixpath.join(self.root, META, "delta", self.tag, *parts)

    def _table(self) -> DeltaTable | None:
        try:
            return DeltaTable(self.location.uri, storage_options=self.location.options)
        except TableNotFoundError:
            return None
        except DeltaError as exc:
            raise PermanentError(f"delta table {self.config.path}: {first_line(exc)}") from None

    def _committed(self, table: DeltaTable | None) -> int:
        return (table.transaction_version(self.app_id) if table is not None else None) or 0

    # ---- lifecycle ---------------------------------------------------------------------

    def describe(self) -> str:
        return f"delta {self.config.path} ({self.config.mode})"

    def check(self) -> str | None:
        return self.context.storage.check(self.config.path, self.config.connection, write=True)

    def lock(self) -> Any:
        return self.committer.lock()

    @cached_property
    def runs(self) -> InPlaceRuns:
        """The flow's run markers and the cleanup of its unpublished files."""
        return InPlaceRuns(
            self.committer,
            meta=self._meta(),
            files=self.root,
            prefix=f"hygge-{self.tag}-",
            staging=posixpath.join(self.root, STAGING, self.tag),
            skip=(LOG, META, STAGING),
        )

    def recover(self) -> list[str]:
        loaded: list[DeltaTable | None] = []  # read once, and only if a run is to settle

        def keep(run: str, record: dict[str, Any]) -> set[str] | None:
            if not loaded:
                loaded.append(self._table())
            table = loaded[0]
            if table is None or self._committed(table) < record["version"]:
                return None
            return self._kept(run, table)

        return self.runs.recover(self.context.run_id, keep, self._meta("*.tmp"))

    def read_state(self) -> FlowState | None:
        table = self._table()
        version = self._committed(table)
        if table is None or not version:
            return None
        cached = self._read_json(self._meta("state.json"))
        if cached is not None and cached.get("version") == version:
            state = cached.get("state")
            return FlowState.model_validate_json(state) if state else None
        for entry in table.history():
            if entry.get("hygge.flow") == self.context.flow and entry.get("hygge.txn") == version:
                state = entry.get("hygge.state")
                self._write_json(self._meta("state.json"), {"version": version, "state": state})
                return FlowState.model_validate_json(state) if state else None
        raise PermanentError(
            f"delta table {self.config.path}: the log no longer holds the commit that "
            f"recorded flow '{self.context.flow}''s state (transaction {version}; log "
            "entries expire after delta.logRetentionDuration). Run 'hygge state reset' "
            "to load the flow in full again"
        )

    def reset_state(self) -> bool:
        table = self._table()
        version = self._committed(table)
        if not version:
            return False
        had = self.read_state() is not None
        # The log's transaction number cannot be taken back; a cache entry for that number
        # with no state says "forgotten", and the next commit moves past it.
        self._write_json(self._meta("state.json"), {"version": version, "state": None})
        return had

    def prepare(self, schema: pa.Schema) -> None:
        target = delta_schema(schema)
        table = self._table()
        if table is not None:
            existing = pa.schema(table.schema().to_arrow())
            partitions = list(table.metadata().partition_columns)
            wanted = self.config.partition_by
            if wanted is not None and list(wanted) != partitions:
                raise PermanentError(
                    f"delta table {self.config.path} is partitioned by "
                    f"{partitions or 'nothing'}, but partition_by says {wanted}; a table's "
                    "partitioning is fixed at creation (replace it in a new path)"
                )
            self._partition_by = partitions
            self._check_drift(existing, target)
            if self.config.mode != "replace" or self.context.schema_drift != "evolve":
                # Under `evolve`, columns new to the table follow its own (added at commit).
                added = [f for f in target if f.name not in existing.names]
                target = pa.schema([*_ordered_like(existing, target), *added])
                self._added = added
        for name in self._partition_by:
            if name not in target.names:
                raise PermanentError(
                    f"partition_by column '{name}' is not a column of the data "
                    f"({', '.join(target.names)})"
                )
            check_partition_column(name, target.field(name).type)
        for key in self.config.keys or []:
            if key not in target.names:
                raise PermanentError(f"key column '{key}' is not a column of the data")
        if self._applies_changes(target):
            unordered = [c for c in changes.ORDER if c not in target.names]
            if unordered:
                raise PermanentError(
                    f"store {self.config.path}: the home sends changes ({changes.OP}) without "
                    f"the column(s) {', '.join(unordered)} that order them; a merge cannot "
                    "tell which change of a key is the last"
                )
        self._schema = target
        if self._version is None:
            self._version = self._committed(table) + 1
            self.runs.mark(self.context.run_id, {"version": self._version})

    def _applies_changes(self, schema: pa.Schema) -> bool:
        """A merge of a change log (`hygge_core.changes`): deletes too, last change per key."""
        return self.config.mode == "merge" and changes.is_change_log(schema)

    def _check_drift(self, existing: pa.Schema, incoming: pa.Schema) -> None:
        evolve = self.context.schema_drift == "evolve"
        if self.config.mode == "replace" and evolve:
            return  # a replace under `evolve` may give the table a new schema
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
            if n in old and not _same_type(old[n], t)
        ]
        if lines:
            hint = (
                "set schema_drift: evolve to add new columns to the table, or use mode: "
                "replace with schema_drift: evolve to give the table the new schema"
            )
            raise SchemaDriftError(
                f"store {self.config.path}: the data does not match the Delta table's "
                "schema:\n" + "\n".join(lines) + f"\n  hint: {hint}"
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
            else (self.root)
        )
        compression = None if self.config.compression == "none" else self.config.compression
        writer = DataFileWriter(
            self.afs,
            root,
            prefix,
            schema,
            [] if merge else self._partition_by,
            compression=compression,
            row_group_rows=self.config.row_group_rows,
            file_rows=self.config.file_rows,
            memory=self.context.memory,
        )
        rows = nbytes = 0
        try:
            for batch in batches:
                batch = conform(batch, schema, "the Delta table")
                writer.write(batch)
                rows += batch.num_rows
                nbytes += batch.nbytes
        except BaseException:
            writer.discard()
            raise
        files = writer.close()
        return StagedUnit(unit.id, rows, nbytes, {"files": [f.plain() for f in files]})

    def commit(self, staged: list[StagedUnit], state: FlowState) -> None:
        assert self._version is not None and self._schema is not None
        table = self._table()
        if self._committed(table) >= self._version:
            # An earlier attempt of this run committed (its reply was lost): publishing
            # again would add every row twice. Drop what this attempt wrote instead.
            self._cleanup(self.context.run_id, table)
            self._forget_run()
            return
        files = [f for s in staged for f in s.payload["files"]]
        properties = CommitProperties(
            custom_metadata={
                "hygge.flow": self.context.flow,
                "hygge.run_id": self.context.run_id,
                "hygge.txn": self._version,
                "hygge.state": state.model_dump_json(),
            },
            app_transactions=[Transaction(self.app_id, self._version)],
        )
        try:
            if table is not None and self._added:
                # Its own log entry, just before the data's: a crash between the two leaves
                # the columns (NULL in older rows) and the rerun finds nothing to add.
                names = set(pa.schema(table.schema().to_arrow()).names)
                missing = [f for f in self._added if f.name not in names]
                if missing:
                    table.alter.add_columns(Schema.from_arrow(pa.schema(missing)).fields)
                    table = self._table()
            if self.config.mode == "merge":
                self._merge(table, files, properties)
            else:
                self._write(table, files, properties)
        except CommitFailedError as exc:
            # Another writer committed first and the change conflicts: nothing of ours
            # landed. The attempt is retried from the start (re-reading the table).
            raise TransientError(
                f"delta table {self.config.path}: a concurrent commit conflicts with this "
                f"run ({first_line(exc)})"
            ) from None
        except DeltaError as exc:
            raise PermanentError(f"delta table {self.config.path}: {first_line(exc)}") from None
        fault_point("commit.logged")  # the log entry landed; the bookkeeping follows
        self._write_json(
            self._meta("state.json"), {"version": self._version, "state": state.model_dump_json()}
        )
        fault_point("commit.cached")
        self._forget_run()

    def _write(
        self, table: DeltaTable | None, files: list[dict[str, Any]], properties: CommitProperties
    ) -> None:
        now = int(time.time() * 1000)
        adds = [
            # The log holds URIs relative to the table: a '%' or ' ' in a folder is escaped.
            AddAction(
                quote(f["path"], safe="/="), f["size"], f["partition_values"], now, True, f["stats"]
            )
            for f in files
        ]
        schema = Schema.from_arrow(self._prepared())
        if table is None:
            create_table_with_add_actions(
                self.location.uri,
                schema,
                adds,
                mode="error",
                partition_by=self._partition_by or None,
                configuration=self.config.table_properties or None,
                storage_options=self.location.options,
                commit_properties=properties,
            )
            return
        if self.config.mode == "replace":
            table.create_write_transaction(
                [*adds],
                mode="overwrite",
                schema=schema,
                partition_by=self._partition_by or None,
                commit_properties=properties,
            )
            return
        actions: list[AddAction | RemoveAction] = []
        if self.config.mode == "replace_partitions":
            touched = {_key(f["partition_values"], self._partition_by) for f in files}
            current = pa.table(table.get_add_actions(flatten=True))
            types = {n: self._prepared().field(n).type for n in self._partition_by}
            for row in current.to_pylist():
                values = {n: partition_text(row[f"partition.{n}"], types[n]) for n in types}
                if _key(values, self._partition_by) in touched:
                    actions.append(RemoveAction(row["path"], True, now, row["size_bytes"], values))
        table.create_write_transaction(
            [*actions, *adds],
            mode="append",
            schema=schema,
            partition_by=self._partition_by or None,
            commit_properties=properties,
        )

    def _merge(
        self, table: DeltaTable | None, files: list[dict[str, Any]], properties: CommitProperties
    ) -> None:
        schema = Schema.from_arrow(self._prepared())
        if table is None:
            table = DeltaTable.create(
                self.location.uri,
                schema,
                partition_by=self._partition_by or None,
                configuration=self.config.table_properties or None,
                storage_options=self.location.options,
            )
        if not files:
            # Nothing to upsert; the commit still records the run and its state.
            table.create_write_transaction(
                [], mode="append", schema=schema, commit_properties=properties
            )
        else:
            folder = posixpath.join(self.root, STAGING, self.tag, self.context.run_id)
            source = pads.dataset(
                [posixpath.join(folder, f["path"]) for f in files],
                schema=self._prepared(),
                format="parquet",
                filesystem=self.afs,
            )
            keys = self.config.keys or []
            predicate = " AND ".join(f"t.{_quote(k)} = s.{_quote(k)}" for k in keys)
            if self._applies_changes(self._prepared()):
                # Only each key's last change counts (a key changes many times in a run);
                # the selection needs the run's changes at once, like any sort.
                latest = changes.latest_changes(source.to_table(), keys)
                live = f"s.{_quote(changes.OP)} <> '{changes.DELETE}'"
                (
                    table.merge(
                        latest,
                        predicate=predicate,
                        source_alias="s",
                        target_alias="t",
                        commit_properties=properties,
                    )
                    .when_matched_delete(f"s.{_quote(changes.OP)} = '{changes.DELETE}'")
                    .when_matched_update_all(live)
                    .when_not_matched_insert_all(live)
                    .execute()
                )
            else:
                (
                    table.merge(
                        source.scanner().to_reader(),
                        predicate=predicate,
                        source_alias="s",
                        target_alias="t",
                        commit_properties=properties,
                    )
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .execute()
                )
        self.runs.remove_staging(self.context.run_id)

    def abort(self, staged: list[StagedUnit]) -> None:
        table = self._table()
        # An attempt that fails after an earlier one committed must keep that commit's files.
        landed = self._version is not None and self._committed(table) >= self._version
        self._cleanup(self.context.run_id, table if landed else None)
        self._forget_run()

    # ---- housekeeping ------------------------------------------------------------------

    def _cleanup(self, run: str, table: DeltaTable | None) -> int:
        """Delete the data files `run` wrote that its commit does not reference (all of
        them when `table` is None: the run never committed). Returns how many went."""
        return self.runs.cleanup(run, self._kept(run, table) if table is not None else None)

    def _kept(self, run: str, table: DeltaTable) -> set[str]:
        return {posixpath.join(self.root, p) for p in self._published_by(run, table)}

    def _published_by(self, run: str, table: DeltaTable) -> set[str]:
        """The files the table referenced right after `run` committed: a later commit
        (another writer's replace) may have removed them since, and time travel still
        needs them."""
        for entry in table.history():
            if entry.get("hygge.flow") == self.context.flow and entry.get("hygge.run_id") == run:
                then = DeltaTable(
                    self.location.uri,
                    version=entry["version"],
                    storage_options=self.location.options,
                )
                return _referenced(then) | _referenced(table)
        return _referenced(table)

    def leftovers(self) -> list[str]:
        """Files of this flow that no committed version references and no live run owns:
        what `recover` removes (for tests and `hygge state show`)."""
        table = self._table()
        keep = _referenced(table) if table is not None else set()
        return self.runs.leftovers({posixpath.join(self.root, p) for p in keep})

    def _forget_run(self) -> None:
        self.runs.forget(self.context.run_id)

    def _read_json(self, path: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.fs.cat_file(path))
        except FileNotFoundError:
            return None

    def _write_json(self, path: str, data: dict[str, Any]) -> None:
        self.committer.write_atomic(path, json.dumps(data).encode())


def _ordered_like(existing: pa.Schema, incoming: pa.Schema) -> pa.Schema:
    """The table's own schema (its column order and nullability) for data that matches it."""
    return pa.schema([existing.field(n) for n in existing.names if n in incoming.names])


def _same_type(a: pa.DataType, b: pa.DataType) -> bool:
    # The log reads strings and binaries back as their large variants or not, by reader.
    plain = {pa.large_string(): pa.string(), pa.large_binary(): pa.binary()}
    return plain.get(a, a) == plain.get(b, b)


def _key(values: dict[str, str | None], names: list[str]) -> tuple[str | None, ...]:
    return tuple(values.get(n) for n in names)


def _referenced(table: DeltaTable) -> set[str]:
    """The data files the table's current version references, relative to its root."""
    return {unquote(p) for p in pa.table(table.get_add_actions()).column("path").to_pylist()}


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
