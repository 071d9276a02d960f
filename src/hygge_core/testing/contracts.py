"""The contract tests: mixins a plugin's test classes inherit.

Capability flags on the subclass (`modes`, `types`, `supports_merge` ...) decide which checks
run, so a plugin is held to what it declares rather than to a backend's name.
"""

from __future__ import annotations

import pathlib
import pickle
from typing import Any, ClassVar

import pyarrow as pa
import pytest
from pydantic import ValidationError

from hygge_core.context import FlowContext
from hygge_core.plugins import load_registry
from hygge_core.storage import StorageResolver
from hygge_core.testing.data import sample_table, tables_equal
from hygge_core.testing.harness import FlowHarness


class SimulatedCrash(BaseException):
    """Raised to stop a run the way `kill -9` would: no abort, no cleanup."""


def _context(flow: str = "kit") -> FlowContext:
    registry = load_registry()
    return FlowContext(flow=flow, run_id="kit-inspect", storage=StorageResolver(registry.storages))


class _Base:
    key: ClassVar[str] = "id"
    types: ClassVar[set[str] | None] = None
    rows: ClassVar[int] = 500

    @pytest.fixture
    def harness(self, tmp_path: pathlib.Path) -> FlowHarness:
        return FlowHarness(tmp_path)

    def table(self, rows: int | None = None, seed: int = 1) -> pa.Table:
        """The sample data this plugin is checked with (its declared types only)."""
        return sample_table(self.rows if rows is None else rows, seed=seed, types=self.types)

    def normalize(self, table: pa.Table) -> pa.Table:
        """Override when the plugin documents a lossless but different representation."""
        return table

    def assert_same(self, got: pa.Table, want: pa.Table) -> None:
        got, want = self.normalize(got), self.normalize(want)
        assert got.num_rows == want.num_rows, f"{got.num_rows} rows landed, {want.num_rows} sent"
        if not tables_equal(got, want, key=self.key):
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


class StoreContract(_Base):
    """Checks a Store plugin. Provide the `store_config` fixture and `read_back`."""

    modes: ClassVar[set[str]] = {"append", "replace"}

    @pytest.fixture
    def store_config(self, tmp_path: pathlib.Path) -> dict[str, Any]:
        """The store under test (without `mode`): override in the subclass."""
        raise NotImplementedError("define a store_config fixture")

    def read_back(self, store_config: dict[str, Any]) -> pa.Table:
        """Everything a reader of the store sees now, as one table: override."""
        raise NotImplementedError("define read_back(store_config) -> pyarrow.Table")

    def _flow(
        self,
        harness: FlowHarness,
        table: pa.Table,
        store_config: dict[str, Any],
        mode: str,
        **extra: Any,
    ) -> dict[str, Any]:
        return {
            "kit": {
                "home": harness.parquet_source(table, f"src-{harness.count}"),
                "store": {**store_config, "mode": mode, **extra},
            }
        }

    def test_type_is_registered(self, store_config: dict[str, Any]) -> None:
        registry = load_registry()
        assert store_config["type"] in registry.stores, (
            f"store type {store_config['type']!r} is not registered through the 'hygge' "
            f"entry-point group; registered: {sorted(registry.stores)}"
        )

    def test_config_rejects_unknown_field(self, store_config: dict[str, Any]) -> None:
        cls = load_registry().stores[store_config["type"]]
        with pytest.raises(ValidationError) as info:
            cls.config_model.model_validate({**store_config, "no_such_field": 1})
        assert "no_such_field" in str(info.value)

    def test_round_trip_is_exact(self, harness: FlowHarness, store_config: dict[str, Any]) -> None:
        table = self.table()
        mode = "replace" if "replace" in self.modes else "append"
        harness.run_ok(self._flow(harness, table, store_config, mode))
        self.assert_same(self.read_back(store_config), table)

    def test_append_twice_doubles(self, harness: FlowHarness, store_config: dict[str, Any]) -> None:
        if "append" not in self.modes:
            pytest.skip("store does not declare append")
        a, b = self.table(seed=1), self.table(seed=2)
        b = b.set_column(0, "id", pa.array(range(a.num_rows, 2 * a.num_rows), pa.int64()))
        harness.run_ok(self._flow(harness, a, store_config, "append"))
        harness.run_ok(self._flow(harness, b, store_config, "append"))
        self.assert_same(self.read_back(store_config), pa.concat_tables([a, b]))

    def test_replace_leaves_only_new_rows(
        self, harness: FlowHarness, store_config: dict[str, Any]
    ) -> None:
        if "replace" not in self.modes:
            pytest.skip("store does not declare replace")
        harness.run_ok(self._flow(harness, self.table(seed=1), store_config, "replace"))
        new = self.table(rows=self.rows // 2, seed=3)
        harness.run_ok(self._flow(harness, new, store_config, "replace"))
        self.assert_same(self.read_back(store_config), new)

    def test_merge_updates_and_inserts(
        self, harness: FlowHarness, store_config: dict[str, Any]
    ) -> None:
        if "merge" not in self.modes:
            pytest.skip("store does not declare merge")
        first = self.table(seed=1)
        harness.run_ok(self._flow(harness, first, store_config, "merge", keys=[self.key]))
        half = self.rows // 2
        second = self.table(seed=4).slice(0, self.rows)
        # Keys half..rows+half: the first half overlaps (updates), the rest is new (inserts).
        second = second.set_column(0, "id", pa.array(range(half, half + self.rows), pa.int64()))
        harness.run_ok(self._flow(harness, second, store_config, "merge", keys=[self.key]))
        expected = pa.concat_tables([first.slice(0, half), second])
        self.assert_same(self.read_back(store_config), expected)

    def test_empty_input(self, harness: FlowHarness, store_config: dict[str, Any]) -> None:
        table = self.table(rows=0)
        mode = "replace" if "replace" in self.modes else "append"
        harness.run_ok(self._flow(harness, table, store_config, mode))
        assert self.read_back(store_config).num_rows == 0

    def test_failed_run_leaves_store_unchanged(
        self, harness: FlowHarness, store_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        before = self.table(seed=1)
        mode = "append" if "append" in self.modes else "replace"
        harness.run_ok(self._flow(harness, before, store_config, mode))
        home_cls = load_registry().homes["parquet"]
        original = home_cls.read

        def failing_read(self_: Any, unit: Any) -> Any:
            for i, batch in enumerate(original(self_, unit)):
                if i == 1:
                    raise RuntimeError("injected read failure")
                yield batch

        monkeypatch.setattr(home_cls, "read", failing_read)
        flows = self._flow(harness, self.table(seed=5), store_config, mode)
        flows["kit"]["home"]["batch_rows"] = 50
        results = harness.run(flows)
        assert results[0].status == "failed" and "injected" in (results[0].error or "")
        self.assert_same(self.read_back(store_config), before)

    def test_crash_before_commit_then_rerun_is_exactly_once(
        self,
        harness: FlowHarness,
        store_config: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        mode = "append" if "append" in self.modes else "replace"
        table = self.table(seed=1)
        cls = load_registry().stores[store_config["type"]]

        def crash(*_: Any, **__: Any) -> None:
            raise SimulatedCrash

        with monkeypatch.context() as m:
            m.setattr(cls, "commit", crash)
            m.setattr(cls, "abort", lambda *_a, **_k: None)  # a killed process cleans nothing
            with pytest.raises(SimulatedCrash):
                harness.run(self._flow(harness, table, store_config, mode))
        results = harness.run_ok(self._flow(harness, table, store_config, mode))
        self.assert_same(self.read_back(store_config), table)
        assert results[0].rows == table.num_rows

    def test_state_commits_with_the_data(
        self, harness: FlowHarness, store_config: dict[str, Any]
    ) -> None:
        mode = "append" if "append" in self.modes else "replace"
        harness.run_ok(self._flow(harness, self.table(), store_config, mode))
        cls = load_registry().stores[store_config["type"]]
        config = cls.config_model.model_validate({**store_config, "mode": mode})
        state = cls(config, _context("kit")).read_state()
        assert state is not None and state.runs and state.runs[-1].rows == self.rows


class HomeContract(_Base):
    """Checks a Home plugin. Provide `home_config(table, tmp_path)`."""

    def home_config(self, table: pa.Table, tmp_path: pathlib.Path) -> dict[str, Any]:
        """Put `table` where the home reads and return its config: override."""
        raise NotImplementedError("define home_config(table, tmp_path) -> dict")

    def append_rows(self, config: dict[str, Any], table: pa.Table, tmp_path: pathlib.Path) -> None:
        """Add rows to the home (for the incremental check); skip it if not overridden."""
        pytest.skip("append_rows not provided")

    def test_round_trip_is_exact(self, harness: FlowHarness, tmp_path: pathlib.Path) -> None:
        table = self.table()
        harness.run_ok(
            {"kit": {"home": self.home_config(table, tmp_path), "store": harness.parquet_sink()}}
        )
        self.assert_same(harness.read_parquet_dir(tmp_path / "sink"), table)

    def test_units_and_home_pickle(self, tmp_path: pathlib.Path) -> None:
        config = self.home_config(self.table(), tmp_path)
        cls = load_registry().homes[config["type"]]
        home = cls(cls.config_model.model_validate(config), _context())
        units = home.plan(None)
        assert units, "a non-empty home planned no work units"
        assert len({u.id for u in units}) == len(units), "unit ids must be unique"
        copy = pickle.loads(pickle.dumps(home))
        rows = sum(b.num_rows for u in pickle.loads(pickle.dumps(units)) for b in copy.read(u))
        assert rows == self.rows

    def test_empty_home(self, harness: FlowHarness, tmp_path: pathlib.Path) -> None:
        table = self.table(rows=0)
        harness.run_ok(
            {"kit": {"home": self.home_config(table, tmp_path), "store": harness.parquet_sink()}}
        )
        assert harness.read_parquet_dir(tmp_path / "sink").num_rows == 0

    def test_incremental_reads_only_new_rows(
        self, harness: FlowHarness, tmp_path: pathlib.Path
    ) -> None:
        first = self.table(seed=1)
        config = self.home_config(first, tmp_path)
        if not load_registry().homes[config["type"]].supports_incremental:
            pytest.skip("home does not support incremental reads")
        flow = {
            "kit": {
                "home": {**config, "incremental": {"cursor": self.key}},
                "store": harness.parquet_sink(mode="append"),
            }
        }
        harness.run_ok(flow)
        more = self.table(seed=2)
        more = more.set_column(0, "id", pa.array(range(self.rows, 2 * self.rows), pa.int64()))
        self.append_rows(config, more, tmp_path)
        results = harness.run_ok(flow)
        assert results[0].rows == self.rows, "the second run must read only the new rows"
        self.assert_same(
            harness.read_parquet_dir(tmp_path / "sink"), pa.concat_tables([first, more])
        )
