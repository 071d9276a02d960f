"""The contract tests: mixins a plugin's test classes inherit.

Capability flags decide which checks run, so a plugin is held to what it declares rather
than to a backend's name. By default they are read from the plugin's own classes (see
`hygge_core.testing.capabilities`); a test class may narrow them (`modes = {"append"}`).

Faults are injected the way they happen in production: a home that fails mid-read, a
process killed between staging and commit (`SimulatedCrash`, which no `except Exception`
catches, and with `abort` disabled, because a killed process cleans nothing up), a
process killed inside the file commit protocol, and a real run in a child process
killed with SIGKILL at each step of the store's commit and at random instants of it.
"""

from __future__ import annotations

import contextlib
import pathlib
import pickle
import posixpath
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Generic, TypeVar, cast

import pyarrow as pa
import pytest
from pydantic import ValidationError

from hygge_core import faults
from hygge_core.context import FlowContext
from hygge_core.filecommit import META, STAGING
from hygge_core.home import Home
from hygge_core.plugins import TypeTable, load_registry
from hygge_core.state import FlowState
from hygge_core.storage import StorageResolver
from hygge_core.store import Store
from hygge_core.testing.capabilities import arrow_types
from hygge_core.testing.data import sample_table, tables_equal
from hygge_core.testing.harness import FlowHarness
from hygge_core.testing.kills import Kill, kill_points, run_flows
from hygge_core.units import WorkUnit

FLOW = "kit"


class SimulatedCrash(BaseException):
    """Raised to stop a run the way `kill -9` would: no abort, no cleanup."""


def _for_mode(store_config: dict[str, Any], mode: str) -> dict[str, Any]:
    """`store_config` in `mode`: merge `keys:` kept for merge only (other modes refuse
    them), so one fixture serves every mode."""
    config = {**store_config, "mode": mode}
    if mode != "merge":
        config.pop("keys", None)
    return config


def _context(
    flow: str = FLOW,
    run_id: str | None = None,
    connections: dict[str, dict[str, Any]] | None = None,
) -> FlowContext:
    registry = load_registry()
    return FlowContext(
        flow=flow,
        run_id=run_id or f"kit-{uuid.uuid4().hex[:8]}",
        storage=StorageResolver(registry.storages, connections or {}),
        connections=connections or {},
    )


# The steps of a run where hygge-core marks a fault point (`hygge_core.faults`), in order.
CRASH_POINTS = (
    "batch.staged",
    "unit.staged",
    "commit.start",
    "commit.record",
    "commit.move",
    "commit.state",
    "commit.done",
)


@contextlib.contextmanager
def _crash_at(point: str) -> Iterator[list[str]]:
    """Raise `SimulatedCrash` the first time a run passes fault point `point`.

    In-process and without signals, so the kit stays fast; the list it yields is non-empty
    once the point was reached, so a check can tell a store that never passes it.
    """
    reached: list[str] = []
    lock = threading.Lock()

    def crash(name: str) -> None:
        if name == point:
            with lock:
                first = not reached
                reached.append(name)
            if first:
                raise SimulatedCrash(f"crash injected at {name}")

    with faults.observing(crash):
        yield reached


PluginT = TypeVar("PluginT", Home, Store)


class _Base(Generic[PluginT]):
    key: ClassVar[str] = "id"
    types: ClassVar[set[str] | None] = None
    rows: ClassVar[int] = 500
    side: ClassVar[str] = ""
    connections: ClassVar[dict[str, dict[str, Any]]] = {}
    """Named connections (`connections:` of flows.yaml) the configs under test refer to."""

    @pytest.fixture
    def harness(self, tmp_path: pathlib.Path) -> FlowHarness:
        return FlowHarness(tmp_path, connections=self.connections)

    def plugin_class(self, type_name: str) -> type[PluginT]:
        """The registered Home or Store class of `type_name`."""
        registry = load_registry()
        table = cast(
            TypeTable[type[PluginT]], registry.homes if self.side == "home" else registry.stores
        )
        assert type_name in table, (
            f"{self.side} type {type_name!r} is not registered through the 'hygge' "
            f"entry-point group; registered: {sorted(table)}"
        )
        return table[type_name]

    def declared_types(self, type_name: str) -> set[str] | None:
        """The test class's `types`, else the plugin class's `arrow_types` (None: all)."""
        if self.types is not None:
            return self.types
        return arrow_types(self.plugin_class(type_name))

    def table(self, rows: int | None = None, seed: int = 1, type_name: str = "") -> pa.Table:
        """The sample data this plugin is checked with (its declared types only)."""
        types = self.declared_types(type_name) if type_name else self.types
        return sample_table(self.rows if rows is None else rows, seed=seed, types=types)

    def normalize(self, table: pa.Table) -> pa.Table:
        """Override when the plugin documents a lossless but different representation."""
        return table

    def assert_same(self, got: pa.Table, want: pa.Table) -> None:
        got, want = self.normalize(got), self.normalize(want)
        assert got.num_rows == want.num_rows, f"{got.num_rows} rows landed, {want.num_rows} sent"
        if not tables_equal(got, want, key=self.key):
            missing = sorted(set(want.column_names) - set(got.column_names))
            assert not missing, f"column(s) {missing} did not land; got {got.column_names}"
            got_sorted = got.select(want.column_names).sort_by(self.key)
            want_sorted = want.sort_by(self.key)
            diffs = [
                n
                for n in want.column_names
                if not got_sorted.column(n).equals(want_sorted.column(n))
            ]
            pytest.fail(
                f"landed data differs in column(s) {diffs}; schema got "
                f"{got.schema} want {want.schema}"
            )

    def _unknown_field_message(self, harness: FlowHarness, flows: dict[str, Any]) -> None:
        text = harness.config_error(flows)
        want = f"flow '{FLOW}' → {self.side} → field 'no_such_field'"
        assert want in text, f"the config error must name the flow, side and field:\n{text}"
        assert "unknown field 'no_such_field'" in text, text

    def _missing_field_messages(
        self, harness: FlowHarness, config: dict[str, Any], flows_for: Any
    ) -> None:
        cls = self.plugin_class(config["type"])
        required = [
            n
            for n, f in cls.config_model.model_fields.items()
            if f.is_required() and n != "type" and n in config
        ]
        for name in required:
            broken = {k: v for k, v in config.items() if k != name}
            text = harness.config_error(flows_for(broken))
            assert f"required field '{name}' is missing" in text, (
                f"dropping '{name}' must give an error naming it:\n{text}"
            )
            assert f"flow '{FLOW}' → {self.side}" in text, text


class StoreContract(_Base[Store]):
    """Checks a Store plugin. Provide the `store_config` fixture and `read_back`.

    Override `staging_leftovers` when the store does not stage files under its `path` the
    way `FileCommitter` does (a SQL store lists its staging tables, for example).
    """

    side = "store"
    modes: ClassVar[set[str] | None] = None
    commit_kills: ClassVar[int] = 2
    """SIGKILLs at random instants of a commit per run of the kit (`HYGGE_KILL_POINTS`
    overrides it, for stress runs)."""

    @pytest.fixture
    def store_config(self, tmp_path: pathlib.Path) -> dict[str, Any]:
        """The store under test (without `mode`): override in the subclass."""
        raise NotImplementedError("define a store_config fixture")

    def read_back(self, store_config: dict[str, Any]) -> pa.Table:
        """Everything a reader of the store sees now, as one table: override."""
        raise NotImplementedError("define read_back(store_config) -> pyarrow.Table")

    def staging_leftovers(self, store_config: dict[str, Any]) -> list[str]:
        """Staging data left in the store (should be none once a run ended in any way).

        The default looks where `FileCommitter` works, beside the store's `path` (and beside
        its parent, for stores that write a single file): every file under
        `_hygge_staging/`, unfinished commit records and `.tmp` files under `_hygge/`.
        """
        path = store_config.get("path")
        if not isinstance(path, str):
            pytest.skip("override staging_leftovers(store_config) so the kit can see staging")
        fs, root = _context(connections=self.connections).filesystem(
            path, store_config.get("connection")
        )
        root = root.rstrip("/")
        found: list[str] = []
        for base in dict.fromkeys([root, posixpath.dirname(root)]):
            for sub in (STAGING, f"{META}/commits"):
                folder = posixpath.join(base, sub)
                if fs.exists(folder):
                    found += fs.find(folder)
            meta = posixpath.join(base, META)
            if fs.exists(meta):
                found += [p for p in fs.find(meta) if p.endswith(".tmp")]
        return sorted(set(found))

    # -- helpers -------------------------------------------------------------------------
    def store_modes(self, store_config: dict[str, Any]) -> set[str]:
        """The modes under test: the test class's `modes`, else the store's own."""
        if self.modes is not None:
            return set(self.modes)
        return set(self.plugin_class(store_config["type"]).modes)

    def sample(
        self, store_config: dict[str, Any], rows: int | None = None, seed: int = 1
    ) -> pa.Table:
        """`table()` limited to the store's declared types."""
        return self.table(rows, seed, type_name=store_config["type"])

    def some_mode(self, store_config: dict[str, Any], prefer: str = "append") -> str:
        modes = self.store_modes(store_config)
        if prefer in modes:
            return prefer
        return "replace" if "replace" in modes else sorted(modes)[0]

    def make_store(
        self, store_config: dict[str, Any], mode: str, run_id: str | None = None
    ) -> Store:
        """A store instance as the runner builds one, for checks that call it directly."""
        cls = self.plugin_class(store_config["type"])
        config = cls.config_model.model_validate(_for_mode(store_config, mode))
        return cls(config, _context(FLOW, run_id, self.connections))

    def _flow(
        self,
        harness: FlowHarness,
        table: pa.Table,
        store_config: dict[str, Any],
        mode: str,
        *,
        incremental: bool = False,
        **extra: Any,
    ) -> dict[str, Any]:
        home = harness.parquet_source(table, f"src-{harness.count}", units=3)
        if incremental:
            home["incremental"] = {"cursor": self.key}
        return {FLOW: {"home": home, "store": {**_for_mode(store_config, mode), **extra}}}

    def _read(self, store_config: dict[str, Any]) -> pa.Table:
        return self.read_back(store_config)

    def assert_no_leftovers(self, store_config: dict[str, Any], after: str) -> None:
        left = self.staging_leftovers(store_config)
        assert not left, f"staging left behind after {after}: {left[:5]}"

    # -- configuration -------------------------------------------------------------------
    def test_type_is_registered(self, store_config: dict[str, Any]) -> None:
        self.plugin_class(store_config["type"])

    def test_config_rejects_unknown_field(self, store_config: dict[str, Any]) -> None:
        cls = self.plugin_class(store_config["type"])
        with pytest.raises(ValidationError) as info:
            cls.config_model.model_validate({**store_config, "no_such_field": 1})
        assert "no_such_field" in str(info.value)

    def test_config_errors_name_the_field(
        self, harness: FlowHarness, store_config: dict[str, Any]
    ) -> None:
        source = harness.parquet_source(self.sample(store_config, rows=3), "cfg")
        self._unknown_field_message(
            harness, {FLOW: {"home": source, "store": {**store_config, "no_such_field": 1}}}
        )
        self._missing_field_messages(
            harness, store_config, lambda s: {FLOW: {"home": source, "store": s}}
        )

    # -- data ----------------------------------------------------------------------------
    def test_round_trip_is_exact(self, harness: FlowHarness, store_config: dict[str, Any]) -> None:
        table = self.sample(store_config)
        mode = self.some_mode(store_config, prefer="replace")
        harness.run_ok(self._flow(harness, table, store_config, mode))
        self.assert_same(self._read(store_config), table)

    def test_append_twice_doubles(self, harness: FlowHarness, store_config: dict[str, Any]) -> None:
        if "append" not in self.store_modes(store_config):
            pytest.skip("store does not declare append")
        a, b = self.sample(store_config, seed=1), self.sample(store_config, seed=2)
        b = b.set_column(0, "id", pa.array(range(a.num_rows, 2 * a.num_rows), pa.int64()))
        harness.run_ok(self._flow(harness, a, store_config, "append"))
        harness.run_ok(self._flow(harness, b, store_config, "append"))
        self.assert_same(self._read(store_config), pa.concat_tables([a, b]))

    def test_replace_leaves_only_new_rows(
        self, harness: FlowHarness, store_config: dict[str, Any]
    ) -> None:
        if "replace" not in self.store_modes(store_config):
            pytest.skip("store does not declare replace")
        harness.run_ok(self._flow(harness, self.sample(store_config), store_config, "replace"))
        new = self.sample(store_config, rows=self.rows // 2, seed=3)
        harness.run_ok(self._flow(harness, new, store_config, "replace"))
        self.assert_same(self._read(store_config), new)

    def test_merge_updates_and_inserts(
        self, harness: FlowHarness, store_config: dict[str, Any]
    ) -> None:
        if "merge" not in self.store_modes(store_config):
            pytest.skip("store does not declare merge")
        first = self.sample(store_config, seed=1)
        harness.run_ok(self._flow(harness, first, store_config, "merge", keys=[self.key]))
        half = self.rows // 2
        second = self.sample(store_config, seed=4).slice(0, self.rows)
        # Keys half..rows+half: the first half overlaps (updates), the rest is new (inserts).
        second = second.set_column(0, "id", pa.array(range(half, half + self.rows), pa.int64()))
        harness.run_ok(self._flow(harness, second, store_config, "merge", keys=[self.key]))
        expected = pa.concat_tables([first.slice(0, half), second])
        self.assert_same(self._read(store_config), expected)

    def test_empty_input(self, harness: FlowHarness, store_config: dict[str, Any]) -> None:
        table = self.sample(store_config, rows=0)
        mode = self.some_mode(store_config, prefer="replace")
        harness.run_ok(self._flow(harness, table, store_config, mode))
        assert self._read(store_config).num_rows == 0
        self.assert_no_leftovers(store_config, "a run with no rows")

    def test_state_commits_with_the_data(
        self, harness: FlowHarness, store_config: dict[str, Any]
    ) -> None:
        mode = self.some_mode(store_config)
        harness.run_ok(self._flow(harness, self.sample(store_config), store_config, mode))
        state = self.make_store(store_config, mode).read_state()
        assert state is not None and state.runs and state.runs[-1].rows == self.rows

    def test_store_pickles_between_units(self, store_config: dict[str, Any]) -> None:
        """A store staged on a Dask worker is a pickled copy: it must pickle after use (open
        resources listed in `transient`) and its copy's receipts must commit."""
        mode = self.some_mode(store_config, prefer="replace")
        table = self.sample(store_config)
        half = table.num_rows // 2
        store = self.make_store(store_config, mode)
        store.prepare(table.schema)
        first = store.stage(WorkUnit("u0", seq=0), iter(table.slice(0, half).to_batches()))
        copy = pickle.loads(pickle.dumps(store))
        second = copy.stage(WorkUnit("u1", seq=1), iter(table.slice(half).to_batches()))
        copy.close()
        store.commit([first, second], FlowState(flow=FLOW))
        store.close()
        self.assert_same(self._read(store_config), table)
        self.assert_no_leftovers(store_config, "a commit of units staged by a pickled copy")

    # -- faults --------------------------------------------------------------------------
    def test_no_staging_left_after_success(
        self, harness: FlowHarness, store_config: dict[str, Any]
    ) -> None:
        mode = self.some_mode(store_config)
        harness.run_ok(self._flow(harness, self.sample(store_config), store_config, mode))
        self.assert_no_leftovers(store_config, "a successful run")

    def test_failed_run_leaves_store_unchanged(
        self, harness: FlowHarness, store_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        before = self.sample(store_config, seed=1)
        mode = self.some_mode(store_config)
        harness.run_ok(self._flow(harness, before, store_config, mode))
        home_cls = load_registry().homes["parquet"]
        original = home_cls.read

        def failing_read(self_: Any, unit: Any) -> Any:
            yield from original(self_, unit)
            if unit.seq == 2:  # the last unit: the others are fully staged by now
                raise RuntimeError("injected read failure")

        monkeypatch.setattr(home_cls, "read", failing_read)
        flows = self._flow(harness, self.sample(store_config, seed=5), store_config, mode)
        flows[FLOW]["home"]["batch_rows"] = 50
        flows[FLOW]["parallelism"] = 1  # units in plan order, so the failure comes last
        results = harness.run(flows)
        assert results[0].status == "failed" and "injected" in (results[0].error or ""), results[
            0
        ].error
        self.assert_same(self._read(store_config), before)
        self.assert_no_leftovers(store_config, "a failed run (abort)")

    def test_abort_discards_staged_units(self, store_config: dict[str, Any]) -> None:
        mode = self.some_mode(store_config)
        table = self.sample(store_config)
        store = self.make_store(store_config, mode)
        store.prepare(table.schema)
        staged = [
            store.stage(WorkUnit(f"u{i}", seq=i), iter(part.to_batches()))
            for i, part in enumerate((table.slice(0, self.rows // 2), table.slice(self.rows // 2)))
        ]
        store.abort(staged)
        store.close()
        assert self._read(store_config).num_rows == 0, "abort published rows"
        self.assert_no_leftovers(store_config, "abort")

    def _crash_before_commit(
        self, harness: FlowHarness, table: pa.Table, store_config: dict[str, Any], mode: str
    ) -> None:
        cls = self.plugin_class(store_config["type"])

        def crash(*_: Any, **__: Any) -> None:
            raise SimulatedCrash("crash injected between staging and commit")

        with pytest.MonkeyPatch.context() as m:
            m.setattr(cls, "commit", crash)
            m.setattr(cls, "abort", lambda *_a, **_k: None)  # a killed process cleans nothing
            with pytest.raises(SimulatedCrash):
                harness.run(self._flow(harness, table, store_config, mode))

    def test_crash_before_commit_then_rerun_is_exactly_once(
        self, harness: FlowHarness, store_config: dict[str, Any]
    ) -> None:
        mode = self.some_mode(store_config)
        table = self.sample(store_config, seed=1)
        self._crash_before_commit(harness, table, store_config, mode)
        assert self._read(store_config).num_rows == 0, "staged rows were visible before commit"
        results = harness.run_ok(self._flow(harness, table, store_config, mode))
        self.assert_same(self._read(store_config), table)
        assert results[0].rows == table.num_rows
        self.assert_no_leftovers(store_config, "a rerun after a crash")

    def test_recover_after_crash_publishes_nothing(
        self, harness: FlowHarness, store_config: dict[str, Any]
    ) -> None:
        """`recover` finishes decided commits only: what a run staged but never committed
        stays invisible (a store may keep it for resuming; the next commit removes it)."""
        mode = self.some_mode(store_config)
        before = self.sample(store_config, seed=1)
        harness.run_ok(self._flow(harness, before, store_config, mode))
        self._crash_before_commit(harness, self.sample(store_config, seed=2), store_config, mode)
        store = self.make_store(store_config, mode)
        with store.lock():
            store.recover()
        store.close()
        self.assert_same(self._read(store_config), before)

    @pytest.mark.parametrize("point", CRASH_POINTS)
    def test_crash_at_any_step_then_rerun_converges(
        self, harness: FlowHarness, store_config: dict[str, Any], point: str
    ) -> None:
        """Killed at each step hygge marks (mid-staging, inside the commit protocol, right
        after it): rerunning the same flow lands every row exactly once."""
        modes = self.store_modes(store_config)
        if not modes & {"append", "replace"}:
            pytest.skip("checked with append or replace")
        mode = "append" if "append" in modes else "replace"
        first = self.sample(store_config, seed=1)
        more = self.sample(store_config, seed=2)
        more = more.set_column(0, "id", pa.array(range(self.rows, 2 * self.rows), pa.int64()))
        both = pa.concat_tables([first, more])
        # Append reads incrementally, so the cursor committed with the data is what keeps a
        # rerun from reading rows twice; replace simply rewrites everything.
        incremental = mode == "append"
        harness.run_ok(self._flow(harness, first, store_config, mode, incremental=incremental))
        flows = self._flow(harness, both, store_config, mode, incremental=incremental)
        cls = self.plugin_class(store_config["type"])
        with pytest.MonkeyPatch.context() as m, _crash_at(point) as reached:
            m.setattr(cls, "abort", lambda *_a, **_k: None)  # a killed process cleans nothing
            with contextlib.suppress(SimulatedCrash):
                harness.run(flows)
        if not reached:
            pytest.skip(f"this store's runs never pass the fault point {point}")
        harness.run_ok(flows)
        self.assert_same(self._read(store_config), both)
        self.assert_no_leftovers(store_config, f"a rerun after a crash at {point}")

    # -- SIGKILL during commit, in a child process ---------------------------------------
    def _commit_kill_rounds(
        self,
        harness: FlowHarness,
        store_config: dict[str, Any],
        kills: Callable[[float], list[Kill]],
        *,
        declared: bool,
    ) -> None:
        """Run the flow twice cleanly (timing the second commit), then for each kill of
        `kills(commit_seconds)`: a run of more rows in a child process, SIGKILLed as drawn;
        an in-process rerun; the store must then hold exactly the source's rows, with no
        staging left.

        Append runs read incrementally, so the cursor committed with the data is all that
        keeps a rerun from reading rows twice or skipping them; replace rewrites everything
        from a fresh source each round. `declared`: a kill at a point that the run never
        reached is an error (the store declares a step its commit does not mark).
        """
        modes = self.store_modes(store_config)
        if not modes & {"append", "replace"}:
            pytest.skip("checked with append or replace")
        mode = "append" if "append" in modes else "replace"
        incremental = mode == "append"
        marks: dict[str, float] = {}

        def run_ok(source: pa.Table) -> None:
            flows = self._flow(harness, source, store_config, mode, incremental=incremental)
            with faults.observing(lambda name: marks.__setitem__(name, time.monotonic())):
                harness.run_ok(flows)

        landed = self._rows_from(store_config, 0)
        run_ok(landed)
        # The second commit is timed: the first one may create tables and folders.
        more = self._rows_from(store_config, 1)
        landed = pa.concat_tables([landed, more]) if incremental else more
        run_ok(landed)
        seconds = marks["commit.done"] - marks["commit.start"]
        for i, kill in enumerate(kills(seconds), start=2):
            more = self._rows_from(store_config, i)
            source = pa.concat_tables([landed, more]) if incremental else more
            flows = self._flow(harness, source, store_config, mode, incremental=incremental)
            done = run_flows(harness.write(flows), kill=kill)
            what = f"{kill.describe()} during a commit ({mode})"
            if done.returncode not in (0, -9):
                pytest.fail(f"hygge run exited {done.returncode} before the {what}:\n{done.stderr}")
            if declared and done.returncode == 0:
                name = self.plugin_class(store_config["type"]).__name__
                pytest.fail(
                    f"a run never passed fault point '{kill.point}' that {name}.fault_points "
                    "declares: mark it in commit with hygge_core.faults.fault_point"
                )
            run_ok(source)
            try:
                self.assert_same(self._read(store_config), source)
            except (AssertionError, pytest.fail.Exception) as exc:
                pytest.fail(f"after a {what} and a rerun, the store differs from the source: {exc}")
            self.assert_no_leftovers(store_config, f"a rerun after a {what}")
            landed = source

    def _rows_from(self, store_config: dict[str, Any], round_: int) -> pa.Table:
        """Round `round_`'s sample, with ids of its own."""
        table = self.sample(store_config, seed=round_ + 1)
        start = round_ * self.rows
        return table.set_column(0, "id", pa.array(range(start, start + self.rows), pa.int64()))

    def test_sigkill_at_each_commit_step_then_rerun_converges(
        self, harness: FlowHarness, store_config: dict[str, Any]
    ) -> None:
        """A real run in a child process, SIGKILLed where the run starts the commit and at
        every step the store declares in `fault_points` (marked with `fault_point`): each
        rerun converges on the source's rows exactly once."""
        cls = self.plugin_class(store_config["type"])
        steps = ["commit.start", *getattr(cls, "fault_points", ())]
        self._commit_kill_rounds(
            harness,
            store_config,
            lambda _seconds: [Kill(point=p) for p in dict.fromkeys(steps)],
            declared=True,
        )

    def test_sigkill_at_random_instants_of_commit_then_rerun_converges(
        self, harness: FlowHarness, store_config: dict[str, Any]
    ) -> None:
        """The same at `commit_kills` random instants of the commit (seeded; measured from
        a clean commit), for the steps no fault point marks."""
        rng = random.Random(f"{store_config['type']}-{self.commit_kills}")
        count = kill_points(self.commit_kills)
        self._commit_kill_rounds(
            harness,
            store_config,
            lambda seconds: [
                Kill(point="commit.start", delay=rng.uniform(0.0, seconds)) for _ in range(count)
            ],
            declared=False,
        )


class HomeContract(_Base[Home]):
    """Checks a Home plugin. Provide `home_config(table, tmp_path)`."""

    side = "home"
    splits: ClassVar[bool | None] = None
    """Narrow the home's `splits` for this test class (False: one configuration that plans
    a single unit, such as one small file); None uses what the home class declares."""

    def home_config(self, table: pa.Table, tmp_path: pathlib.Path) -> dict[str, Any]:
        """Put `table` where the home reads and return its config: override."""
        raise NotImplementedError("define home_config(table, tmp_path) -> dict")

    def append_rows(self, config: dict[str, Any], table: pa.Table, tmp_path: pathlib.Path) -> None:
        """Add rows to the home (for the incremental check); skip it if not overridden."""
        pytest.skip("append_rows not provided")

    def home_type(self, tmp_path: pathlib.Path) -> str:
        """The type under test, from the config `home_config` returns for no rows."""
        probe = tmp_path / "kit-probe"
        probe.mkdir(parents=True, exist_ok=True)
        return self.home_config(self.table(rows=0), probe)["type"]

    def sample(self, tmp_path: pathlib.Path, rows: int | None = None, seed: int = 1) -> pa.Table:
        """`table()` limited to the home's declared types."""
        return self.table(rows, seed, type_name=self.home_type(tmp_path))

    def make_home(self, config: dict[str, Any]) -> Home:
        """A home instance as the runner builds one."""
        cls = self.plugin_class(config["type"])
        return cls(cls.config_model.model_validate(config), _context(connections=self.connections))

    def _sink_flow(
        self, harness: FlowHarness, home: dict[str, Any], **extra: Any
    ) -> dict[str, Any]:
        return {FLOW: {"home": home, "store": harness.parquet_sink(**extra)}}

    def test_type_is_registered(self, tmp_path: pathlib.Path) -> None:
        self.plugin_class(self.home_type(tmp_path))

    def test_config_errors_name_the_field(
        self, harness: FlowHarness, tmp_path: pathlib.Path
    ) -> None:
        config = self.home_config(self.sample(tmp_path, rows=3), tmp_path)
        self._unknown_field_message(
            harness, self._sink_flow(harness, {**config, "no_such_field": 1})
        )
        self._missing_field_messages(harness, config, lambda h: self._sink_flow(harness, h))

    def test_round_trip_is_exact(self, harness: FlowHarness, tmp_path: pathlib.Path) -> None:
        table = self.sample(tmp_path)
        harness.run_ok(self._sink_flow(harness, self.home_config(table, tmp_path)))
        self.assert_same(harness.read_parquet_dir(tmp_path / "sink"), table)

    def test_units_and_home_pickle(self, tmp_path: pathlib.Path) -> None:
        table = self.sample(tmp_path)
        home = self.make_home(self.home_config(table, tmp_path))
        schema = home.schema()
        units = home.plan(None)
        assert units, "a non-empty home planned no work units"
        assert len({u.id for u in units}) == len(units), "unit ids must be unique"
        copy = pickle.loads(pickle.dumps(home))
        rows = 0
        for unit in pickle.loads(pickle.dumps(units)):
            for batch in copy.read(unit):
                assert batch.schema.equals(schema), (
                    f"unit {unit.id} yielded {batch.schema}, but schema() said {schema}"
                )
                rows += batch.num_rows
        assert rows == self.rows

    def test_plan_is_deterministic(self, tmp_path: pathlib.Path) -> None:
        config = self.home_config(self.sample(tmp_path), tmp_path)
        first = [u.id for u in self.make_home(config).plan(None)]
        again = [u.id for u in self.make_home(config).plan(None)]
        assert first == again, "the same input must plan the same unit ids"

    def test_splits_into_units(self, tmp_path: pathlib.Path) -> None:
        config = self.home_config(self.sample(tmp_path), tmp_path)
        declared = getattr(self.plugin_class(config["type"]), "splits", False)
        if not (declared if self.splits is None else self.splits):
            pytest.skip(
                "the test class sets splits = False"
                if declared
                else "home does not declare splits = True"
            )
        units = self.make_home(config).plan(None)
        assert len(units) > 1, f"home declares splits but planned {len(units)} unit(s)"

    def test_empty_home(self, harness: FlowHarness, tmp_path: pathlib.Path) -> None:
        table = self.sample(tmp_path, rows=0)
        harness.run_ok(self._sink_flow(harness, self.home_config(table, tmp_path)))
        assert harness.read_parquet_dir(tmp_path / "sink").num_rows == 0

    def test_incremental_reads_only_new_rows(
        self, harness: FlowHarness, tmp_path: pathlib.Path
    ) -> None:
        first = self.sample(tmp_path, seed=1)
        config = self.home_config(first, tmp_path)
        if not self.plugin_class(config["type"]).supports_incremental:
            pytest.skip("home does not support incremental reads")
        flow = self._sink_flow(
            harness, {**config, "incremental": {"cursor": self.key}}, mode="append"
        )
        harness.run_ok(flow)
        more = self.sample(tmp_path, seed=2)
        more = more.set_column(0, "id", pa.array(range(self.rows, 2 * self.rows), pa.int64()))
        self.append_rows(config, more, tmp_path)
        results = harness.run_ok(flow)
        # The strict `>` boundary: the row holding the old cursor is not read again.
        assert results[0].rows == self.rows, "the second run must read only the new rows"
        self.assert_same(
            harness.read_parquet_dir(tmp_path / "sink"), pa.concat_tables([first, more])
        )
