"""The plugin test kit: contract tests a Home, Store, Transform or Check plugin gets by
subclassing.

Like fsspec's abstract tests, the kit is a set of mixin classes whose tests run against
fixtures the plugin author provides. Every plugin in the hygge repository runs it; a new
plugin runs it with a few lines::

    from hygge_core.testing import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store_config(self, tmp_path):
            return {"type": "mine", "path": str(tmp_path / "out")}

        def read_back(self, store_config):
            return my_reader(store_config["path"])      # -> pyarrow.Table

See docs/plugins/testing.md for every fixture, capability flag and check.

The contract classes need pytest and the data helpers numpy; both are imported on first
use, so that `hygge_core.testing.capabilities` (which `hygge plugins` may show) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hygge_core.lazy import lazy_exports
from hygge_core.testing.capabilities import KIT_TYPES, declared_capabilities

if TYPE_CHECKING:
    from hygge_core.testing.cli import Completed, run_cli
    from hygge_core.testing.contracts import HomeContract, SimulatedCrash, StoreContract
    from hygge_core.testing.data import (
        every_type_table,
        sample_table,
        table_checksum,
        tables_equal,
    )
    from hygge_core.testing.events import EventRecorder
    from hygge_core.testing.harness import FlowHarness
    from hygge_core.testing.imports import ImportProbe, hygge_imports
    from hygge_core.testing.kills import Kill, kill_points, run_hygge
    from hygge_core.testing.measure import MeasuredRun, hygge_executable, run_hygge_measured
    from hygge_core.testing.services import missing, need_env, need_module, services_required
    from hygge_core.testing.steps import CheckContract, TransformContract

_LAZY = {
    "Completed": "hygge_core.testing.cli",
    "run_cli": "hygge_core.testing.cli",
    "missing": "hygge_core.testing.services",
    "need_env": "hygge_core.testing.services",
    "need_module": "hygge_core.testing.services",
    "services_required": "hygge_core.testing.services",
    "HomeContract": "hygge_core.testing.contracts",
    "StoreContract": "hygge_core.testing.contracts",
    "SimulatedCrash": "hygge_core.testing.contracts",
    "TransformContract": "hygge_core.testing.steps",
    "CheckContract": "hygge_core.testing.steps",
    "EventRecorder": "hygge_core.testing.events",
    "FlowHarness": "hygge_core.testing.harness",
    "ImportProbe": "hygge_core.testing.imports",
    "hygge_imports": "hygge_core.testing.imports",
    "Kill": "hygge_core.testing.kills",
    "kill_points": "hygge_core.testing.kills",
    "run_hygge": "hygge_core.testing.kills",
    "MeasuredRun": "hygge_core.testing.measure",
    "hygge_executable": "hygge_core.testing.measure",
    "run_hygge_measured": "hygge_core.testing.measure",
    "every_type_table": "hygge_core.testing.data",
    "sample_table": "hygge_core.testing.data",
    "table_checksum": "hygge_core.testing.data",
    "tables_equal": "hygge_core.testing.data",
}


__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "KIT_TYPES",
    "CheckContract",
    "Completed",
    "EventRecorder",
    "FlowHarness",
    "HomeContract",
    "ImportProbe",
    "Kill",
    "MeasuredRun",
    "SimulatedCrash",
    "StoreContract",
    "TransformContract",
    "declared_capabilities",
    "every_type_table",
    "hygge_executable",
    "hygge_imports",
    "kill_points",
    "missing",
    "need_env",
    "need_module",
    "run_cli",
    "run_hygge",
    "run_hygge_measured",
    "sample_table",
    "services_required",
    "table_checksum",
    "tables_equal",
]
