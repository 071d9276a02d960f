"""The SQL store: each unit bulk-loads a staging table; one transaction publishes them all.

Staging tables are named `_hygge_stg_<flow>_<run>_<unit>` (hashes of the flow and table, and
of the run id), so `recover` can tell the tables an interrupted run of this flow left behind
from the ones the current run is writing, and `abort` can find this run's own.

`commit` runs one transaction: create or alter the target if needed, check merge keys,
publish (append: INSERT ... SELECT; replace: DELETE then INSERT, so readers see the old rows
or the new ones, never an empty or half-loaded table; merge: an upsert), write the flow's
state row, drop the staging tables. On MariaDB/MySQL, where DDL commits by itself, the CREATE
or ALTER runs just before and the DROPs just after.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hygge_core import (
    Finding,
    FlowContext,
    FlowState,
    HyggeError,
    PermanentError,
    SchemaDriftError,
    StagedUnit,
    Store,
    WorkUnit,
    changes,
    drift,
    mask_url,
)
from hygge_core.faults import fault_point
from hygge_sql import statetable
from hygge_sql.backends import Ledger, execute_sql
from hygge_sql.config import SqlConnection, SqlStoreConfig, TableName, table_name
from hygge_sql.database import OnDatabase
from hygge_sql.errors import guarded, is_disk_full
from hygge_sql.types import canonical, coerce

STAGING = "_hygge_stg_"


class SqlStore(OnDatabase, Store):
    """Writes a table of any SQLAlchemy database, exactly once per committed run.

    Loads go through the database's bulk path (binary COPY on PostgreSQL, ADBC ingest on
    SQLite, multi-row INSERTs elsewhere). A missing table is created from the Arrow schema
    with faithful types; an existing one is checked against the flow's schema-drift policy.
    """

    config_model = SqlStoreConfig
    connection_model = SqlConnection
    modes = frozenset({"append", "replace", "merge"})
    transient = ("_backend",)
    # Inside the transaction, then after it: a kill before the COMMIT must leave nothing.
    fault_points = ("commit.published", "commit.state-written", "commit.committed")

    def __init__(self, config: SqlStoreConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: SqlStoreConfig = config
        # Set by `prepare` on the driver; plain data, so it travels with pickled copies.
        self._schema: pa.Schema | None = None
        self._create = False
        self._alter: list[str] = []
        # A first load stages every unit into one table that commit renames into place.
        self._shared: str | None = None

    # ---- names -------------------------------------------------------------------------

    @property
    def named(self) -> TableName:
        """The target table as the config names it."""
        return table_name(self.config.table, self.config.schema_name)

    @property
    def table(self) -> TableName:
        """The target table as the database names it."""
        return self.backend.qualify(self.named)

    @property
    def where(self) -> str:
        """How errors name this store's table."""
        return f"table '{self.named}'"

    @property
    def _secret(self) -> str | None:
        return self.backend.url.password

    @property
    def _key(self) -> str:
        return f"{self.context.flow}\0{self.table}"

    @property
    def _flow_prefix(self) -> str:
        return STAGING + hashlib.sha256(self._key.encode()).hexdigest()[:8] + "_"

    @property
    def _run_prefix(self) -> str:
        run = hashlib.sha256(self.context.run_id.encode()).hexdigest()[:8]
        return f"{self._flow_prefix}{run}_"

    def staging_name(self, seq: int) -> str:
        """The staging table of unit `seq` of this run."""
        return f"{self._run_prefix}{seq:05d}"

    @property
    def _ledger_name(self) -> str:
        return f"{self._run_prefix}units"

    def describe(self) -> str:
        try:
            shown = mask_url(self.backend.url.render_as_string(hide_password=False))
        except Exception:  # a broken connection entry must not break a log line
            shown = f"connection '{self.config.connection}'"
        return f"sql {shown} {self.named} ({self.config.mode})"

    # ---- lifecycle ---------------------------------------------------------------------

    def lock(self) -> contextlib.AbstractContextManager[None]:
        with guarded(self.where, self._secret):
            self.backend.ensure_database()  # the first thing a run does with its store
        return self.backend.lock(self._key, self.where)

    def recover(self) -> list[str]:
        if self.backend.missing_database():
            return []
        with self._disk_full_hint():
            left = [n for n in self._staging_tables() if not n.startswith(self._run_prefix)]
            self._drop(left)
        return [f"dropped staging table {n} left by an interrupted run" for n in left]

    def health(self) -> list[Finding]:
        """Staging tables no live run owns, for `hygge doctor` (the next run drops them)."""
        if self.backend.missing_database():
            return []
        left = self._staging_tables()
        if not left:
            return [Finding("ok", "staging", f"no staging table left in {self.where}")]
        return [
            Finding(
                "warning",
                "staging",
                f"{len(left)} staging table(s) of a run that never committed (killed, or "
                f"still running) in {self.where}: {', '.join(left[:5])}"
                + (" ..." if len(left) > 5 else "")
                + "; the next `hygge run` of the flow drops them",
            )
        ]

    def abort(self, staged: list[StagedUnit]) -> None:
        with self._disk_full_hint():
            self._drop([n for n in self._staging_tables() if n.startswith(self._run_prefix)])

    @contextlib.contextmanager
    def _disk_full_hint(self) -> Iterator[None]:
        """Say what to free when the database's disk is full (the driver only says it is)."""
        try:
            yield
        except PermanentError as exc:
            if not is_disk_full(str(exc)) or "hint:" in str(exc):
                raise
            raise PermanentError(f"{exc}. hint: {self.backend.space_hint()}") from None

    def _staging_tables(self) -> list[str]:
        with guarded(self.where, self._secret), self.backend.engine.connect() as conn:
            names = self.backend.table_names(conn, self.table.schema)
        return sorted(n for n in names if n.startswith(self._flow_prefix))

    def _drop(self, names: list[str]) -> None:
        if not names:
            return
        with guarded(self.where, self._secret), self.backend.writing() as conn:
            for name in names:
                sa.Table(name, sa.MetaData(), schema=self.table.schema).drop(conn, checkfirst=True)
        self.backend.reclaim_space()  # a journal grown by the failed load shrinks again

    def read_state(self) -> FlowState | None:
        if self.backend.missing_database():  # (a SQLite file not made yet): never ran here
            return None
        with guarded(self.where, self._secret), self.backend.engine.connect() as conn:
            return statetable.read(conn, self.table.schema, self.context.flow, self.table.name)

    def reset_state(self) -> bool:
        if self.backend.missing_database():
            return False
        with guarded(self.where, self._secret), self.backend.writing() as conn:
            return statetable.delete(conn, self.table.schema, self.context.flow, self.table.name)

    def check(self) -> str | None:
        try:
            self._check_names([])
            with guarded(self.where, self._secret), self.backend.engine.connect() as conn:
                self._check_schema(conn)
                self.backend.table_columns(conn, self.table)
        except HyggeError as exc:
            return str(exc)
        return None

    # ---- prepare -----------------------------------------------------------------------

    def prepare(self, schema: pa.Schema) -> None:
        """Check the schema against the target (drift policy, merge keys) and decide the DDL
        the commit will run; nothing is changed yet."""
        fields = [pa.field(f.name, canonical(f.type, f.name)) for f in schema]
        names = [f.name for f in fields]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise PermanentError(f"{self.where}: the home has duplicate column(s) {doubled}")
        if self.config.mode == "merge":
            missing = [k for k in self.config.keys or [] if k not in names]
            if missing:
                raise PermanentError(
                    f"{self.where}: merge key(s) {', '.join(missing)} not among the home's "
                    f"columns ({', '.join(names)})"
                )
            unordered = [c for c in changes.ORDER if c not in names]
            if changes.is_change_log(schema) and unordered:
                raise PermanentError(
                    f"{self.where}: the home sends changes ({changes.OP}) without the "
                    f"column(s) {', '.join(unordered)} that order them; a merge cannot tell "
                    "which change of a key is the last"
                )
        self._schema = pa.schema(fields)
        backend = self.backend
        self._check_names(names)
        with guarded(self.where, self._secret):
            backend.ensure_database()
            with backend.engine.connect() as conn:
                self._check_schema(conn)
                existing = backend.table_columns(conn, self.table)
            with backend.writing() as conn:
                statetable.ensure(conn, self.table.schema)
        self._create, self._alter, self._shared = existing is None, [], None
        if existing is None:
            # A change log cannot become the target as it is: deletes and repeated keys.
            if backend.renames and not self._applies_changes:
                shared = f"{self._run_prefix}all"
                with guarded(self.where, self._secret):
                    backend.create_staging(
                        self._staging_table(shared, self._schema, shared=True),
                        self._ledger_table(),
                    )
                self._shared = shared
            return
        old = pa.schema([(c.name, c.arrow) for c in existing])
        new = pa.schema([(f.name, backend.roundtrip(f.type, f.name)) for f in fields])
        problem = drift(old, new, self.context.schema_drift)
        if problem:
            raise SchemaDriftError(
                f"{self.where}: "
                # A table keeps its columns under replace: dropping it is the way to start over.
                + problem.replace("run with mode: replace to start over", "drop the table").replace(
                    "run once with --mode replace to start over", "drop the table to start over"
                )
            )
        if self.config.mode == "merge":
            absent = [k for k in self.config.keys or [] if k not in old.names]
            if absent:
                raise PermanentError(f"{self.where} has no merge key column(s) {absent}")
        target = sa.Table(self.table.name, sa.MetaData(), schema=self.table.schema)
        dialect = backend.engine.dialect
        preparer = dialect.identifier_preparer
        for f in fields:
            if f.name not in old.names:
                self._alter.append(
                    f"ALTER TABLE {preparer.format_table(target)} ADD COLUMN "
                    f"{preparer.quote(f.name)} {backend.ddl_type(f.type).compile(dialect=dialect)}"
                )
            elif not old.field(f.name).type.equals(new.field(f.name).type):
                self._alter.append(backend.widen(target, f.name, backend.ddl_type(f.type), dialect))

    @property
    def _applies_changes(self) -> bool:
        """A merge of a change log (`_op`): deletes and updates, last change per key."""
        return (
            self.config.mode == "merge"
            and self._schema is not None
            and changes.is_change_log(self._schema)
        )

    def _check_names(self, columns: list[str]) -> None:
        """Refuse names the database would reject or silently cut, before any DDL.

        PostgreSQL truncates identifiers to 63 bytes: a longer table was created under the
        cut name, and every later run, looking for the full one, failed "already exists".
        """
        for i, name in enumerate(columns):
            if not name.strip():
                raise PermanentError(
                    f"{self.where}: column {i + 1} of the home has an empty name; a database "
                    "column needs one: name it in the home (a CSV header, a query's AS)"
                )
        dialect = self.backend.engine.dialect
        limit = dialect.max_identifier_length
        if not limit:
            return
        # PostgreSQL counts bytes (NAMEDATALEN); the others count characters.
        size = (lambda n: len(n.encode())) if dialect.name == "postgresql" else len
        unit = "bytes" if dialect.name == "postgresql" else "characters"
        what = [("table name", self.table.name), ("schema name", self.table.schema or "")]
        what += [("column name", c) for c in columns]
        for kind, name in what:
            if size(name) > limit:
                raise PermanentError(
                    f"{self.where}: the {kind} '{name[:limit]}…' is {size(name)} {unit}; "
                    f"{dialect.name} allows {limit}: use a shorter name"
                )

    def _check_schema(self, conn: Any) -> None:
        """A table in a schema that does not exist: say so (hygge creates tables only)."""
        schema = self.table.schema
        if schema is None or schema in sa.inspect(conn).get_schema_names():
            return
        raise PermanentError(
            f"{self.where}: schema '{schema}' does not exist; hygge creates tables, not "
            f"schemas: create it (CREATE SCHEMA {schema}) or fix table:"
        )

    # ---- stage -------------------------------------------------------------------------

    def _staging_table(self, name: str, schema: pa.Schema, shared: bool = False) -> sa.Table:
        backend = self.backend
        return sa.Table(
            name,
            sa.MetaData(),
            *(sa.Column(f"c{i}", backend.ddl_type(f.type)) for i, f in enumerate(schema)),
            schema=self.table.schema,
            # The shared table becomes the target: it must be as durable as one.
            prefixes=[] if shared else list(backend.staging_prefixes),
            **backend.table_kwargs,
        )

    def _ledger_table(self) -> sa.Table:
        return sa.Table(
            self._ledger_name,
            sa.MetaData(),
            sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
            schema=self.table.schema,
        )

    def stage(self, unit: WorkUnit, batches: Iterable[pa.RecordBatch]) -> StagedUnit:
        stream: Iterator[pa.RecordBatch] = iter(batches)
        if self._schema is None:  # staged without prepare (a direct call): use the data's
            first = next(stream, None)
            if first is None:
                return StagedUnit(unit.id, 0, 0, {})
            self._schema = pa.schema(
                [pa.field(f.name, canonical(f.type, f.name)) for f in first.schema]
            )
            stream = itertools.chain([first], stream)
        schema = self._schema
        backend = self.backend
        storage = pa.schema(
            [(f"c{i}", backend.storage_arrow(f.type)) for i, f in enumerate(schema)]
        )
        counts = {"rows": 0, "bytes": 0}
        exact_floats = not backend.keeps_special_floats and not self.config.lossy_floats

        def converted() -> Iterator[pa.RecordBatch]:
            for batch in stream:
                if not batch.num_rows:
                    continue
                arrays = []
                for i, f in enumerate(schema):
                    index = batch.schema.get_field_index(f.name)
                    if index < 0:
                        raise PermanentError(f"{self.where}: a batch lacks column '{f.name}'")
                    column = coerce(batch.column(index), f.type, f.name)
                    if exact_floats and pa.types.is_floating(f.type):
                        self._refuse_special_floats(column, f.name, counts["rows"])
                    arrays.append(coerce(column, storage.field(i).type, f.name))
                counts["rows"] += batch.num_rows
                counts["bytes"] += batch.nbytes
                yield pa.RecordBatch.from_arrays(arrays, schema=storage)

        ledger = None
        if self._shared is not None:
            name = self._shared
            table = self._staging_table(name, schema, shared=True)
            ledger = Ledger(self._ledger_table(), unit.seq)
        else:
            name = self.staging_name(unit.seq)
            table = self._staging_table(name, schema)
        try:
            with self._disk_full_hint():
                backend.stage(
                    table, converted(), storage, self.config.batch_rows, self.where, ledger
                )
        except PermanentError as exc:
            if str(exc).startswith(self.where):
                raise
            raise PermanentError(f"{self.where}: {exc}") from None
        return StagedUnit(unit.id, counts["rows"], counts["bytes"], {"table": name})

    def _refuse_special_floats(self, column: pa.Array, name: str, before: int) -> None:
        """Fail on a NaN or -0.0 the database would silently change (SQLite: NULL, 0.0)."""
        import pyarrow.compute as pc  # only SQLite stores refuse them

        nan = pc.is_nan(column)
        negative_zero = pc.and_(
            pc.equal(column, 0), pc.less(pc.divide(pa.scalar(1, column.type), column), 0)
        )
        for bad, what in ((nan, "NaN"), (negative_zero, "-0.0")):
            if pc.any(bad).as_py():
                row = before + pc.index(bad, True).as_py() + 1
                stored = "NULL" if what == "NaN" else "0.0"
                raise PermanentError(
                    f"{self.where}: column '{name}' holds {what} (row {row:,} of this work "
                    f"unit), which {self.backend.name} would store as {stored}. hint: set "
                    "lossy_floats: true on the store to accept that, or replace the value "
                    "in the home"
                )

    # ---- commit ------------------------------------------------------------------------

    def commit(self, staged: list[StagedUnit], state: FlowState) -> None:
        backend = self.backend
        tables = list(dict.fromkeys(s.payload["table"] for s in staged if s.payload.get("table")))
        leftovers = [*tables, *([self._shared, self._ledger_name] if self._shared else [])]
        leftovers = list(dict.fromkeys(leftovers))
        with self._disk_full_hint(), guarded(self.where, self._secret):
            if not backend.transactional_ddl:
                with backend.engine.begin() as conn:
                    self._ddl(conn)
            with backend.writing() as conn:
                renamed = self._publish_by_rename(conn, tables)
                if not renamed:
                    if backend.transactional_ddl:
                        self._ddl(conn)
                    self._publish(conn, tables)
                fault_point("commit.published")
                statetable.write(conn, self.table.schema, self.context.flow, self.table.name, state)
                fault_point("commit.state-written")
                if backend.transactional_ddl:
                    self._drop_in(conn, [n for n in leftovers if n != renamed])
            fault_point("commit.committed")
            if not backend.transactional_ddl:
                self._drop(leftovers)

    def _publish_by_rename(self, conn: Connection, tables: list[str]) -> str | None:
        """A first load: the shared staging table becomes the target (no copy). Returns the
        renamed table's name, or None when the target appeared meanwhile (or the run did not
        stage into a shared table), so the rows are published by INSERT instead."""
        shared = self._shared
        if shared is None or self._schema is None or tables not in ([], [shared]):
            return None
        if sa.inspect(conn).has_table(self.table.name, schema=self.table.schema):
            return None
        backend = self.backend
        preparer = conn.dialect.identifier_preparer
        names = self._schema.names
        staged = sa.table(
            shared, *(sa.column(f"c{i}") for i in range(len(names))), schema=self.table.schema
        )
        if self.config.mode == "merge":
            keys = list(self.config.keys or [])
            rows = sa.select(*(staged.c[f"c{names.index(k)}"].label(k) for k in keys))
            self._check_keys(conn, rows.subquery("hygge_src"), keys)
        source = sa.Table(shared, sa.MetaData(), schema=self.table.schema)
        target = sa.Table(self.table.name, sa.MetaData(), schema=self.table.schema)
        execute_sql(
            conn,
            f"ALTER TABLE {preparer.format_table(source)} "
            f"RENAME TO {preparer.quote(self.table.name)}",
        )
        for i, name in enumerate(names):
            execute_sql(
                conn,
                f"ALTER TABLE {preparer.format_table(target)} "
                f"RENAME COLUMN {preparer.quote(f'c{i}')} TO {preparer.quote(name)}",
            )
        if self.config.mode == "merge":
            execute_sql(conn, backend.key_ddl(target, list(self.config.keys or []), conn.dialect))
        return shared

    def _ddl(self, conn: Connection) -> None:
        if self._create and self._schema is not None:
            self._target_for_create().create(conn, checkfirst=True)
        for statement in self._alter:
            execute_sql(conn, statement)

    def _target_for_create(self) -> sa.Table:
        assert self._schema is not None
        backend = self.backend
        keys = set(self.config.keys or []) if self.config.mode == "merge" else set()
        columns = [
            sa.Column(
                f.name,
                backend.key_type(f.type) if f.name in keys else backend.ddl_type(f.type),
                primary_key=f.name in keys,
                autoincrement=False,
            )
            for f in self._schema
        ]
        return sa.Table(
            self.table.name,
            sa.MetaData(),
            *columns,
            schema=self.table.schema,
            **backend.table_kwargs,
        )

    def _drop_in(self, conn: Connection, names: list[str]) -> None:
        for name in names:
            sa.Table(name, sa.MetaData(), schema=self.table.schema).drop(conn, checkfirst=True)

    def _publish(self, conn: Connection, tables: list[str]) -> None:
        assert self._schema is not None or not tables
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sa.exc.SAWarning)  # unknown types, skipped CASTs
            target = sa.Table(
                self.table.name, sa.MetaData(), schema=self.table.schema, autoload_with=conn
            )
        names = self._schema.names if self._schema is not None else []
        selects = [self._staged_select(name, target, names) for name in tables]
        if self.config.mode == "replace":
            conn.execute(sa.delete(target))
        if self.config.mode == "merge":
            if selects:
                self._merge(conn, target, names, selects)
            return
        for select in selects:
            conn.execute(sa.insert(target).from_select(names, select))

    def _staged_select(self, name: str, target: sa.Table, names: list[str]) -> sa.Select[Any]:
        staged = sa.table(
            name, *(sa.column(f"c{i}") for i in range(len(names))), schema=self.table.schema
        )
        publish = self.backend.publish_expr
        return sa.select(
            *(publish(staged.c[f"c{i}"], target.c[n].type).label(n) for i, n in enumerate(names))
        )

    def _merge(
        self, conn: Connection, target: sa.Table, names: list[str], selects: list[sa.Select[Any]]
    ) -> None:
        keys = list(self.config.keys or [])
        union = sa.union_all(*selects) if len(selects) > 1 else selects[0]
        src = union.subquery("hygge_src")
        self._check_keys(conn, src, keys)
        if self._applies_changes:
            self._apply_changes(conn, target, names, keys, src)
            return
        rows = sa.select(*(src.c[n] for n in names))
        backend = self.backend
        upsert = (
            backend.upsert(target, names, keys, rows)
            if backend.has_unique(conn, self.table, keys)
            else None
        )
        if upsert is not None:
            conn.execute(upsert)
            return
        # No unique index on the keys: the portable UPDATE, then INSERT of the new keys.

        def match() -> sa.ColumnElement[bool]:
            return sa.and_(*(target.c[k] == src.c[k] for k in keys))

        others = [n for n in names if n not in keys]
        if others:
            conn.execute(
                sa.update(target)
                .values({n: sa.select(src.c[n]).where(match()).scalar_subquery() for n in others})
                .where(sa.exists(sa.select(sa.literal(1)).select_from(src).where(match())))
            )
        fresh = rows.where(~sa.exists(sa.select(sa.literal(1)).select_from(target).where(match())))
        conn.execute(sa.insert(target).from_select(names, fresh))

    def _apply_changes(
        self,
        conn: Connection,
        target: sa.Table,
        names: list[str],
        keys: list[str],
        src: sa.Subquery,
    ) -> None:
        """Apply a change log (hygge_core.changes): per key, the last change in (_lsn, _seq)
        order wins; the key's row is deleted, then inserted again unless that change is a
        delete. Inside the commit's transaction, so readers see all of the run or none."""
        rank = (
            sa.func.row_number()
            .over(
                partition_by=[src.c[k] for k in keys],
                order_by=[src.c[c].desc() for c in changes.ORDER],
            )
            .label("hygge_rank")
        )
        ranked = sa.select(*(src.c[n] for n in names), rank).subquery("hygge_ranked")
        last = sa.select(*(ranked.c[n] for n in names)).where(ranked.c.hygge_rank == 1)
        latest = last.subquery("hygge_last")
        changed = sa.exists(
            sa.select(sa.literal(1))
            .select_from(latest)
            .where(sa.and_(*(target.c[k] == latest.c[k] for k in keys)))
        )
        conn.execute(sa.delete(target).where(changed))
        kept = sa.select(*(latest.c[n] for n in names)).where(
            latest.c[changes.OP] != changes.DELETE
        )
        conn.execute(sa.insert(target).from_select(names, kept))

    def _check_keys(self, conn: Connection, src: sa.Subquery, keys: list[str]) -> None:
        """Fail before publishing when a merge key is NULL or repeats in the run's rows."""
        nulls = conn.execute(
            sa.select(sa.func.count())
            .select_from(src)
            .where(sa.or_(*(src.c[k].is_(None) for k in keys)))
        ).scalar()
        if nulls:
            raise PermanentError(
                f"{self.where}: merge key ({', '.join(keys)}) is NULL in {nulls} row(s) of the "
                "home; nothing was written"
            )
        if self._applies_changes:
            return  # a key changes more than once in a run; the last change counts
        count = sa.func.count().label("n")
        twice = conn.execute(
            sa.select(*(src.c[k] for k in keys), count)
            .group_by(*(src.c[k] for k in keys))
            .having(sa.func.count() > 1)
            .limit(1)
        ).first()
        if twice is not None:
            shown = ", ".join(f"{k}={twice[i]!r}" for i, k in enumerate(keys))
            raise PermanentError(
                f"{self.where}: merge keys are not unique in the home ({shown} appears "
                f"{twice[-1]} times); nothing was written"
            )
