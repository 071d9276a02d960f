"""The kit catches broken Stores: deliberately wrong stores must FAIL its checks.

Each broken store is a small subclass of the Parquet store with one realistic bug. They are
registered through a generated distribution (a `*.dist-info` folder with a `hygge` entry
point, put on PYTHONPATH: no pip needed), and a generated test module runs the kit against
them in a pytest subprocess; its JUnit report says which checks failed.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap

import pytest

from hygge_core.testing import KIT_TYPES, declared_capabilities, sample_table
from tests.plugindist import fake_install, run_kit
from tests.test_tutorial import write_minidb

BROKEN_STORES = '''
"""Stores with one bug each, for proving that the hygge kit catches them."""

import posixpath

from hygge_core import hookimpl
from hygge_parquet.store import ParquetStore


class GoodStore(ParquetStore):
    """The control: the Parquet store unchanged, which must pass."""


class CommitsTwiceStore(ParquetStore):
    """recover() publishes whatever it finds in staging, without a commit record."""

    def recover(self):
        done = super().recover()
        staging = posixpath.join(self.root, "_hygge_staging", self.context.flow)
        if self.fs.exists(staging):
            for path in self.fs.find(staging):
                if path.endswith(".parquet"):
                    self.fs.mv(path, posixpath.join(self.root, posixpath.basename(path)))
        return done


class LeakyStore(ParquetStore):
    """Every unit leaves a spill file in staging that nothing ever removes."""

    def stage(self, unit, batches):
        staged = super().stage(unit, batches)
        spill = posixpath.join(self.root, "_hygge_staging", "spill", f"{unit.seq}.tmp")
        self.fs.makedirs(posixpath.dirname(spill), exist_ok=True)
        self.fs.pipe_file(spill, b"scratch")
        return staged


class IgnoresAbortStore(ParquetStore):
    """abort() does nothing: a failed run's staged files stay behind."""

    def abort(self, staged):
        pass


class EagerStore(ParquetStore):
    """Publishes each unit as soon as it is staged: readers see a run before it commits."""

    def stage(self, unit, batches):
        staged = super().stage(unit, batches)
        for path in staged.payload["files"]:
            self.fs.copy(path, posixpath.join(self.root, posixpath.basename(path)))
        return staged


@hookimpl
def hygge_register_stores(register):
    register("kit_good", GoodStore)
    register("broken_twice", CommitsTwiceStore)
    register("broken_leaky", LeakyStore)
    register("broken_noabort", IgnoresAbortStore)
    register("broken_eager", EagerStore)
'''

KIT_TESTS = """
import pathlib

import pyarrow.parquet as pq
import pytest

from hygge_core.testing import StoreContract


class _Parquetish(StoreContract):
    modes = {"append", "replace"}
    rows = 300

    def read_back(self, store_config):
        path = pathlib.Path(store_config["path"])
        if not path.exists() or not any(path.glob("*.parquet")):
            return self.table(rows=0)
        return pq.read_table(path)


def _config(type_name):
    @pytest.fixture
    def store_config(self, tmp_path):
        return {"type": type_name, "path": str(tmp_path / "lake")}

    return store_config


class TestGood(_Parquetish):
    store_config = _config("kit_good")


class TestTwice(_Parquetish):
    store_config = _config("broken_twice")


class TestLeaky(_Parquetish):
    store_config = _config("broken_leaky")


class TestNoAbort(_Parquetish):
    store_config = _config("broken_noabort")


class TestEager(_Parquetish):
    store_config = _config("broken_eager")
"""

# The checks that matter here; the full kit runs in every plugin's own tests.
SELECTED = (
    "round_trip or no_staging_left or failed_run or abort_discards or crash_before_commit "
    "or recover_after_crash or (crash_at_any_step and commit.record)"
)


@pytest.fixture(scope="module")
def kit_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """{test class: {check: "passed" | "failed" | "skipped"}} from one pytest subprocess."""
    root = tmp_path_factory.mktemp("brokenkit")
    (root / "broken_stores.py").write_text(BROKEN_STORES)
    fake_install(root, "hygge-brokenkit", {"broken": "broken_stores"})
    (root / "test_generated_kit.py").write_text(KIT_TESTS)
    return run_kit(root / "test_generated_kit.py", [root], SELECTED)[0]


def failed(outcomes: dict[str, dict[str, str]], cls: str) -> set[str]:
    return {name for name, status in outcomes[cls].items() if status == "failed"}


def test_the_correct_store_passes_every_selected_check(kit_outcomes) -> None:
    assert failed(kit_outcomes, "TestGood") == set()
    passed = {n for n, s in kit_outcomes["TestGood"].items() if s == "passed"}
    assert "test_crash_before_commit_then_rerun_is_exactly_once" in passed
    assert "test_crash_at_any_step_then_rerun_converges[commit.record]" in passed


def test_kit_catches_a_store_that_commits_twice_after_a_crash(kit_outcomes) -> None:
    bad = failed(kit_outcomes, "TestTwice")
    assert "test_recover_after_crash_publishes_nothing" in bad
    assert "test_crash_before_commit_then_rerun_is_exactly_once" in bad


def test_kit_catches_a_store_that_leaks_staging_files(kit_outcomes) -> None:
    bad = failed(kit_outcomes, "TestLeaky")
    assert "test_no_staging_left_after_success" in bad
    assert "test_round_trip_is_exact" not in bad  # the data is right; only the leak is wrong


def test_kit_catches_a_store_that_ignores_abort(kit_outcomes) -> None:
    bad = failed(kit_outcomes, "TestNoAbort")
    assert {"test_abort_discards_staged_units", "test_failed_run_leaves_store_unchanged"} <= bad


def test_kit_catches_a_store_that_publishes_before_commit(kit_outcomes) -> None:
    bad = failed(kit_outcomes, "TestEager")
    assert {
        "test_crash_before_commit_then_rerun_is_exactly_once",
        "test_abort_discards_staged_units",
    } <= bad


# -- database stores whose commit is two transactions ------------------------------------

BROKEN_DB_STORES = '''
"""The tutorial's minidb store with its one commit transaction split in two, two ways.

Each marks its steps with the same fault points as the correct store, as its author would.
"""

from hygge_core import hookimpl
from hygge_core.faults import fault_point
from hygge_minidb.store import MinidbStore


def tables(staged):
    return [s.payload["table"] for s in staged if s.payload.get("table")]


class StateFirstStore(MinidbStore):
    """Writes the state row in a transaction of its own, before the data."""

    def commit(self, staged, state):
        with self.transaction() as conn:
            self.write_state(conn, state)
        fault_point("commit.state-written")
        with self.transaction() as conn:
            self.publish(conn, tables(staged))
            self.drop(conn, self.staging_tables(conn, self.prefix()))
        fault_point("commit.published")
        fault_point("commit.committed")


class TwoTransactionsStore(MinidbStore):
    """Commits the data, then the state in a second transaction."""

    def commit(self, staged, state):
        with self.transaction() as conn:
            self.publish(conn, tables(staged))
            self.drop(conn, self.staging_tables(conn, self.prefix()))
        fault_point("commit.published")
        with self.transaction() as conn:
            self.write_state(conn, state)
        fault_point("commit.state-written")
        fault_point("commit.committed")


@hookimpl
def hygge_register_stores(register):
    register("minidb_state_first", StateFirstStore)
    register("minidb_two_transactions", TwoTransactionsStore)
'''

DB_KIT_TESTS = """
import pytest

import minidb_kit  # the tutorial's tests/test_contract.py


def _config(type_name):
    @pytest.fixture
    def store_config(self, tmp_path):
        return {"type": type_name, "path": str(tmp_path / "kit.db"), "table": "users"}

    return store_config


class TestGood(minidb_kit.MinidbContract):
    store_config = _config("minidb")


class TestStateFirst(minidb_kit.MinidbContract):
    store_config = _config("minidb_state_first")


class TestTwoTransactions(minidb_kit.MinidbContract):
    store_config = _config("minidb_two_transactions")
"""

# The commit checks, and the older ones a commit in two transactions used to pass.
DB_SELECTED = "sigkill or round_trip or crash_before_commit or recover_after_crash or crash_at_any"
STEP_KILLS = "test_sigkill_at_each_commit_step_then_rerun_converges"


@pytest.fixture(scope="module")
def db_kit_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """The kit's outcomes for the tutorial's minidb store and its two broken variants."""
    root = tmp_path_factory.mktemp("brokendb")
    src = write_minidb(root)
    (root / "broken_db_stores.py").write_text(BROKEN_DB_STORES)
    fake_install(root, "hygge-brokendb", {"brokendb": "broken_db_stores"})
    (root / "minidb_kit.py").write_text((root / "minidb/tests/test_contract.py").read_text())
    (root / "test_generated_db_kit.py").write_text(DB_KIT_TESTS)
    return run_kit(root / "test_generated_db_kit.py", [root, src], DB_SELECTED)[0]


def test_a_store_committing_in_one_transaction_passes_the_commit_kills(db_kit_outcomes) -> None:
    good = db_kit_outcomes["TestGood"]
    assert failed(db_kit_outcomes, "TestGood") == set()
    assert good[STEP_KILLS] == "passed"
    assert good["test_sigkill_at_random_instants_of_commit_then_rerun_converges"] == "passed"


def test_kit_catches_a_store_that_writes_its_state_before_the_data(db_kit_outcomes) -> None:
    # Killed between the two transactions, the state says rows were read that never landed.
    # Only the SIGKILL checks see it: every in-process crash check passes.
    bad = failed(db_kit_outcomes, "TestStateFirst")
    assert STEP_KILLS in bad
    assert not {n for n in bad if "sigkill" not in n}, bad


def test_kit_catches_a_store_that_commits_data_and_state_apart(db_kit_outcomes) -> None:
    # Killed between them, the data landed but the state did not: the rerun duplicates it.
    bad = failed(db_kit_outcomes, "TestTwoTransactions")
    assert STEP_KILLS in bad
    assert not {n for n in bad if "sigkill" not in n}, bad


# -- capabilities ------------------------------------------------------------------------


def test_capabilities_are_read_from_the_plugin_classes() -> None:
    from hygge_core.plugins import load_registry

    registry = load_registry()
    if "csv" not in registry.stores:
        pytest.skip("hygge-csv is not installed")
    store = declared_capabilities(registry.stores["csv"], "store")
    assert store == {
        "arrow_types": sorted(set(KIT_TYPES) - {"binary"}),
        "modes": ["append", "replace", "replace_partitions"],
    }
    home = declared_capabilities(registry.homes["csv"], "home")
    assert home["incremental"] is True and home["splits"] is True
    parquet = declared_capabilities(registry.stores["parquet"], "store")
    assert parquet["arrow_types"] == "all"


def test_an_unknown_declared_type_is_an_error() -> None:
    class Odd:
        arrow_types = frozenset({"int64", "uuid"})

    with pytest.raises(ValueError, match=r"Odd.arrow_types names unknown types \['uuid'\]"):
        declared_capabilities(Odd, "store")


def test_sample_table_holds_exactly_the_declared_types() -> None:
    table = sample_table(50, types={"string", "date"})
    assert table.column_names == ["id", "string", "date"]
    assert table.num_rows == 50
    assert set(sample_table(5).column_names) == {"id", *KIT_TYPES}


def test_kit_module_imports_without_pytest_for_the_cli() -> None:
    """`hygge plugins` may show capabilities: importing them needs neither pytest nor numpy."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["pytest"] = None  # any import of pytest now fails
        sys.modules["numpy"] = None
        from hygge_core.testing import declared_capabilities, KIT_TYPES
        print(len(KIT_TYPES))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(len(KIT_TYPES))


def test_contract_classes_still_import_from_the_package() -> None:
    import hygge_core.testing as kit

    assert kit.StoreContract.__name__ == "StoreContract"
    assert kit.HomeContract.__name__ == "HomeContract"
    assert kit.FlowHarness.__name__ == "FlowHarness"
    with pytest.raises(AttributeError):
        kit.NoSuchThing  # noqa: B018
    assert pathlib.Path(kit.__file__).name == "__init__.py"
