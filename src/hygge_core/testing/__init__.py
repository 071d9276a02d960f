"""The plugin test kit: contract tests a Home or Store plugin gets by subclassing.

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
"""

from hygge_core.testing.contracts import HomeContract, StoreContract
from hygge_core.testing.data import sample_table, table_checksum, tables_equal
from hygge_core.testing.harness import FlowHarness

__all__ = [
    "FlowHarness",
    "HomeContract",
    "StoreContract",
    "sample_table",
    "table_checksum",
    "tables_equal",
]
