"""The `postgres_cdc` home: a table's inserts, updates and deletes, from a replication slot.

A run is bounded when it is planned: it reads the changes committed after the flow's
committed position (the highest `_lsn` in its state, committed with the data) up to the
server's WAL position at plan time. The first run creates the slot, which exports a
snapshot; the snapshot is read with the SQL home's split readers and stamped with the slot's
consistent point, so the stream continues exactly where the snapshot ends. The slot moves
only in `committed`, after the store committed, and never past the committed position.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from hygge_core import FlowContext, FlowState, Home, HyggeError, PermanentError, Window, WorkUnit
from hygge_core import changes as convention
from hygge_sql import engines
from hygge_sql.cdc import slot
from hygge_sql.cdc.config import CdcHomeConfig
from hygge_sql.cdc.pgoutput import Changes, Decoder, format_lsn
from hygge_sql.config import SqlConnection, SqlHomeConfig, TableName, table_name
from hygge_sql.database import OnDatabase
from hygge_sql.errors import guarded
from hygge_sql.home import SqlHome
from hygge_sql.types import Column, coerce, from_python

# The columns each change carries besides the table's (see hygge_core.changes).
META = pa.schema(
    [
        (convention.OP, pa.string()),
        ("_lsn", pa.int64()),
        ("_seq", pa.int64()),
        ("_commit_ts", pa.timestamp("us", tz="UTC")),
        ("_xid", pa.int64()),
    ]
)
# The text pgoutput writes is the reading session's: make it what psycopg's loaders parse.
SESSION = (
    "SET DateStyle = ISO",
    "SET TimeZone = 'UTC'",
    "SET IntervalStyle = postgres",
    "SET extra_float_digits = 3",
    "SET bytea_output = hex",
)


def arrow_parses(t: pa.DataType) -> bool:
    """Types whose PostgreSQL text (DateStyle ISO, TimeZone UTC) Arrow's cast parses."""
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or pa.types.is_date32(t)
        or pa.types.is_timestamp(t)
    )


def default_name(flow: str) -> str:
    """`hygge_<flow>`, as a slot or publication may be named (lower case, 63 bytes)."""
    return ("hygge_" + re.sub(r"[^a-z0-9_]", "_", flow.lower()))[:63]


class PostgresCdcHome(OnDatabase, Home):
    """The changes of one PostgreSQL table, exactly once, through logical replication.

    Each row is one change: the table's columns plus `_op`, `_lsn`, `_seq`, `_commit_ts`
    and `_xid` (the convention of `hygge_core.changes`). Merge stores apply them; append
    stores land the change log. See docs/cdc.md.
    """

    config_model = CdcHomeConfig
    connection_model = SqlConnection
    supports_incremental = True
    splits = True
    transient: ClassVar[tuple[str, ...]] = ("_backend", "_exporter")

    def __init__(self, config: CdcHomeConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: CdcHomeConfig = config
        self._columns: list[Column] | None = None
        self._exporter: Any = None  # the replication connection holding the snapshot
        self._snapshot: SqlHome | None = None
        self._state: FlowState | None = None  # as the store committed it (`begin`)

    # ---- names -------------------------------------------------------------------------

    @property
    def named(self) -> TableName:
        """The table as the config names it."""
        return table_name(self.config.table, self.config.schema_name)

    @property
    def table(self) -> TableName:
        """The table with its schema (`public` unless named)."""
        named = self.backend.qualify(self.named)
        return TableName(named.name, named.schema or "public")

    @property
    def where(self) -> str:
        return f"table '{self.named}'"

    @property
    def slot_name(self) -> str:
        """The flow's replication slot."""
        return self.config.slot or default_name(self.context.flow)

    @property
    def publication(self) -> str:
        """The publication the slot reads."""
        return self.config.publication or default_name(self.context.flow)

    @property
    def _uri(self) -> str:
        return engines.adbc_postgres_uri(self.backend.url)

    @property
    def _secret(self) -> str | None:
        return self.backend.url.password

    def describe(self) -> str:
        return f"postgres_cdc {self.named} (slot {self.slot_name})"

    # ---- schema ------------------------------------------------------------------------

    def columns(self) -> list[Column]:
        """The table's columns (asked once; the answer pickles)."""
        if self._columns is None:
            if self.backend.name != "postgresql":
                raise PermanentError(
                    f"{self.where}: postgres_cdc reads PostgreSQL only, not {self.backend.name}"
                )
            self._columns = self._snapshot_home().columns()
            clash = [c.name for c in self._columns if c.name in META.names]
            if clash:
                raise PermanentError(
                    f"{self.where}: column(s) {', '.join(clash)} clash with the change "
                    "columns hygge adds; rename them in the table"
                )
        return self._columns

    def schema(self) -> pa.Schema:
        return pa.schema([*((c.name, c.arrow) for c in self.columns()), *META])

    def _snapshot_home(self) -> SqlHome:
        """The SQL home that reads the initial snapshot with its split readers."""
        if self._snapshot is None:
            config = SqlHomeConfig(
                type="sql",
                url=self.config.url,
                connection=self.config.connection,
                schema_name=self.config.schema_name,
                pool_size=self.config.pool_size,
                table=self.config.table,
                batch_rows=self.config.batch_rows,
                split=self.config.split,
            )
            self._snapshot = SqlHome(config, self.context)
        return self._snapshot

    # ---- plan --------------------------------------------------------------------------

    def plan(self, window: Window | None) -> list[WorkUnit]:
        if window is None:
            # Not a run (hygge preview): a run always has the _lsn window. Touch no slot;
            # show the table as it is now, as the inserts a first snapshot would bring.
            return [
                dataclasses.replace(u, id=f"snapshot {u.id}", payload={**u.payload, "lsn": 0})
                for u in self._snapshot_home().plan(None)
            ]
        after = window.after
        units: list[WorkUnit] = []
        with guarded(self.where, self._secret):
            conn = slot.connect(self._uri)
            try:
                slot.ensure_publication(conn, self.publication, self.table, self.where)
                found = slot.slot_info(conn, self.slot_name)
                if after is None and found is not None and self._committed_before():
                    # The first run committed no change (an empty table): its slot, never
                    # moved, still starts where that run's snapshot ended.
                    start = found.confirmed or 0
                    self._resume(conn, found, start)
                elif after is None:
                    start, units = self._start(conn, found is not None)
                else:
                    start = int(after)
                    self._resume(conn, found, start)
                upto = slot.current_lsn(conn)
                keys = slot.primary_key(conn, self.table)
            finally:
                conn.close()
        span = f"({format_lsn(start)},{format_lsn(upto)}]"
        payload = {"after": start, "upto": upto, "keys": keys}
        units.append(WorkUnit(id=f"changes {span}", payload=payload))
        return units

    def _committed_before(self) -> bool:
        """Whether a run of this flow committed (a state may also hold failed runs only)."""
        state = self._state
        return state is not None and any(r.status == "ok" for r in state.runs)

    def _start(self, conn: Any, exists: bool) -> tuple[int, list[WorkUnit]]:
        """A first run (nothing committed): a new slot, and its snapshot's units."""
        if exists:
            # Made by a first run that never committed (its snapshot died with it), or
            # before a `hygge state reset`: start over.
            slot.drop(conn, self.slot_name)
        self.close()
        self._exporter, start, snapshot = slot.create(self._uri, self.slot_name)
        if not self.config.snapshot:
            return start, []
        units = [
            dataclasses.replace(
                u,
                id=f"snapshot {u.id}",
                payload={**u.payload, "snapshot": snapshot, "lsn": start},
            )
            for u in self._snapshot_home().plan(None)
        ]
        return start, units

    def _resume(self, conn: Any, found: slot.SlotInfo | None, committed: int) -> None:
        """A later run: the slot must still hold everything after the committed position."""
        way_out = (
            f"hygge state reset <flows file> --flow {self.context.flow}, then run the flow: "
            "it takes a new snapshot"
        )
        if found is None:
            raise PermanentError(
                f"{self.where}: replication slot '{self.slot_name}' is gone (dropped), so the "
                f"changes after LSN {format_lsn(committed)} are lost to this flow. Way out: "
                + way_out
            )
        if found.wal_status == "lost" or found.confirmed is None:
            raise PermanentError(
                f"{self.where}: replication slot '{self.slot_name}' was invalidated (the "
                "server removed WAL it still needed, max_slot_wal_keep_size), so changes "
                f"after LSN {format_lsn(committed)} are lost. Way out: drop the slot "
                f"(SELECT pg_drop_replication_slot('{self.slot_name}')) and " + way_out
            )
        if found.confirmed > committed:
            raise PermanentError(
                f"{self.where}: replication slot '{self.slot_name}' was moved to LSN "
                f"{format_lsn(found.confirmed)}, past what this flow committed "
                f"({format_lsn(committed)}): another consumer uses it. Give each flow its "
                "own slot:, or " + way_out
            )
        if found.confirmed < committed:  # the last run's `committed` call did not happen
            slot.advance(conn, self.slot_name, committed)

    # ---- read --------------------------------------------------------------------------

    def read(self, unit: WorkUnit) -> Iterator[pa.RecordBatch]:
        if "lsn" in unit.payload:
            yield from self._read_snapshot(unit)
        else:
            yield from self._read_changes(
                int(unit.payload["after"]), int(unit.payload["upto"]), unit.payload["keys"]
            )

    def _read_snapshot(self, unit: WorkUnit) -> Iterator[pa.RecordBatch]:
        """The table as of the slot's creation: every row an insert at the consistent point."""
        schema = self.schema()
        lsn = int(unit.payload["lsn"])
        for batch in self._snapshot_home().read(dataclasses.replace(unit, window=None)):
            n = batch.num_rows
            meta = [
                pa.array([convention.INSERT] * n, pa.string()),
                pa.array([lsn] * n, pa.int64()),
                pa.array(range(n), pa.int64()),
                pa.nulls(n, META.field("_commit_ts").type),
                pa.nulls(n, pa.int64()),
            ]
            yield pa.RecordBatch.from_arrays([*batch.columns, *meta], schema=schema)

    def _read_changes(self, after: int, upto: int, keys: list[str]) -> Iterator[pa.RecordBatch]:
        """The changes of transactions that committed in (after, upto], in commit order."""
        import psycopg

        wanted = {(self.table.schema or "public", self.table.name)}
        decoder = Decoder(wanted, after, upto, frozenset(keys) or None)
        with guarded(self.where, self._secret), psycopg.connect(self._uri) as conn:
            for statement in SESSION:
                conn.execute(statement)
            loaders = psycopg.adapt.Transformer(conn)
            with conn.cursor(name="hygge_cdc_changes") as cursor:
                cursor.itersize = 10_000
                cursor.execute(
                    "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, %s::pg_lsn, "
                    "NULL, 'proto_version', '1', 'publication_names', %s)",
                    (self.slot_name, format_lsn(upto), self.publication),
                    binary=True,  # bytea as it is, not as hex text to parse
                )
                for (data,) in cursor:
                    decoder.decode(data)
                    if len(decoder.changes) >= self.config.batch_rows:
                        yield self._batch(decoder.take(), loaders)
            if len(decoder.changes):
                yield self._batch(decoder.take(), loaders)
            conn.rollback()

    def _batch(self, chunk: Changes, loaders: Any) -> pa.RecordBatch:
        """Changes as one batch of `schema()`: text values typed like the SQL home's."""
        first = chunk.relations[0]
        if all(r is first for r in chunk.relations):  # the usual case: one table layout
            by_position = list(zip(*chunk.rows, strict=True))
            position = {name: i for i, name in enumerate(first.columns)}
            columns = {
                c.name: by_position[position[c.name]] if c.name in position else None
                for c in self.columns()
            }
        else:  # the table was altered within the chunk: match values by column name
            named = [
                dict(zip(r.columns, v, strict=True))
                for r, v in zip(chunk.relations, chunk.rows, strict=True)
            ]
            columns = {c.name: tuple(v.get(c.name) for v in named) for c in self.columns()}
        arrays = []
        for column in self.columns():
            texts = columns[column.name]
            if texts is None:  # a column added after these changes were made
                arrays.append(pa.nulls(len(chunk), column.arrow))
                continue
            oid = (
                first.type_oids[first.columns.index(column.name)]
                if column.name in first.columns
                else 25
            )
            arrays.append(self._typed(texts, column, oid, loaders))
        arrays += [
            pa.array(chunk.ops, pa.string()),
            pa.array(chunk.lsns, pa.int64()),
            pa.array(chunk.seqs, pa.int64()),
            pa.array(chunk.commit_us, pa.int64()).cast(META.field("_commit_ts").type),
            pa.array(chunk.xids, pa.int64()),
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema())

    def _typed(
        self, texts: Sequence[bytes | None], column: Column, oid: int, loaders: Any
    ) -> pa.Array:
        """A column's text values as its Arrow type: Arrow parses the common types (fast);
        anything else goes through psycopg's own parser for the type, as the SQL home's."""
        raw = pa.array(texts, pa.binary()).cast(pa.string())  # checks the UTF-8
        target = column.arrow
        if column.as_text or pa.types.is_string(target) or pa.types.is_large_string(target):
            return coerce(raw, target, column.name)
        try:
            if pa.types.is_boolean(target):
                return pc.equal(raw, "t")
            if arrow_parses(target):
                return raw.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # infinity, BC dates, NaN numerics: psycopg says what they are
        from psycopg.pq import Format

        loader = loaders.get_loader(oid, Format.TEXT)
        values = [None if t is None else loader.load(t) for t in texts]
        fetched = from_python(values, self.backend.fetch_type(column), column.name)
        return coerce(fetched, target, column.name)

    # ---- after the commit --------------------------------------------------------------

    def begin(self, state: FlowState | None) -> None:
        """Keep the committed state: a flow that committed without a change has no _lsn in
        it, yet its slot is its own (see `plan`)."""
        self._state = state

    def committed(self, state: FlowState) -> None:
        """Move the slot to the committed position: its WAL up to there can go."""
        self.close()  # the snapshot, if any, is read and committed
        if state.cursor is None:
            return
        committed = int(state.cursor.value)
        with guarded(self.where, self._secret):
            conn = slot.connect(self._uri)
            try:
                found = slot.slot_info(conn, self.slot_name)
                confirmed = found.confirmed if found is not None else None
                if confirmed is not None and confirmed < committed:
                    slot.advance(conn, self.slot_name, committed)
            finally:
                conn.close()

    def close(self) -> None:
        exporter, self._exporter = self._exporter, None
        if exporter is not None:
            exporter.close()
        if self._snapshot is not None:
            self._snapshot.close()

    # ---- checks ------------------------------------------------------------------------

    def check(self) -> str | None:
        """`hygge validate --connect`: wal_level, the right to replicate, the publication."""
        try:
            self.columns()
            with guarded(self.where, self._secret):
                conn = slot.connect(self._uri)
                try:
                    return self._problems(conn)
                finally:
                    conn.close()
        except HyggeError as exc:
            return str(exc)

    def _problems(self, conn: Any) -> str | None:
        level = conn.execute("SHOW wal_level").fetchone()[0]
        if level != "logical":
            return (
                f"wal_level is {level}; logical replication needs wal_level = logical "
                "(ALTER SYSTEM SET wal_level = logical, then restart the server)"
            )
        may = conn.execute(
            "SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()[0]
        if not may:
            return (
                "the user may not replicate; ALTER ROLE <user> REPLICATION (and grant it "
                "SELECT on the table)"
            )
        tables = slot.publication_tables(conn, self.publication)
        qualified = TableName(self.table.name, self.table.schema or "public")
        if tables is not None and qualified not in tables:
            return (
                f"publication '{self.publication}' does not publish {qualified}; ALTER "
                f"PUBLICATION {self.publication} ADD TABLE {qualified}"
            )
        found = slot.slot_info(conn, self.slot_name)
        if found is not None and found.wal_status == "lost":
            return f"replication slot '{self.slot_name}' was invalidated (wal_status lost)"
        return None

    def status(self, state: FlowState | None) -> str | None:
        """For `hygge state show`: the slot, its lag in bytes, the committed LSN."""
        committed = format_lsn(int(state.cursor.value)) if state and state.cursor else "none"
        with guarded(self.where, self._secret):
            conn = slot.connect(self._uri)
            try:
                found = slot.slot_info(conn, self.slot_name)
            finally:
                conn.close()
        if found is None:
            return f"slot {self.slot_name}: none; committed LSN {committed}"
        confirmed = format_lsn(found.confirmed) if found.confirmed is not None else "none"
        return (
            f"slot {self.slot_name}: confirmed LSN {confirmed}, lag {found.lag_bytes or 0:,} "
            f"bytes, wal_status {found.wal_status}; committed LSN {committed}"
        )
