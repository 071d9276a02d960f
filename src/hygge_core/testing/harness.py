"""Running real flows from tests: a flows.yaml in a temp dir, run by hygge's own runner."""

from __future__ import annotations

import pathlib
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from hygge_core.api import run_file
from hygge_core.errors import ConfigError
from hygge_core.runner import FlowResult


class FlowHarness:
    """Writes flows.yaml files under `root` and runs them in-process.

    `connections` (named connection settings) are written into every flows.yaml, for
    homes and stores that need `connection: NAME`.

    Parquet is the default source and sink for round trips because hygge-parquet is the
    reference plugin; a kit user only supplies the side under test.
    """

    def __init__(
        self, root: pathlib.Path, connections: dict[str, dict[str, Any]] | None = None
    ) -> None:
        self.root = root
        self.count = 0
        self.connections = connections or {}

    def parquet_source(
        self, table: pa.Table, name: str = "source", *, units: int = 1
    ) -> dict[str, Any]:
        """Write `table` as a Parquet file and return a home config reading it.

        The file has three row groups; `units=3` makes the home plan one work unit per row
        group, so a store under test stages several units at once, as in production.
        """
        path = self.root / f"{name}.parquet"
        group = max(1, -(-table.num_rows // 3))
        pq.write_table(table, path, row_group_size=group)
        config: dict[str, Any] = {"type": "parquet", "path": str(path)}
        if units > 1:
            config["unit_rows"] = group
        return config

    def parquet_sink(self, name: str = "sink", mode: str = "replace") -> dict[str, Any]:
        """A store config writing Parquet under the harness root."""
        return {"type": "parquet", "path": str(self.root / name), "mode": mode}

    def write(self, flows: dict[str, Any], **top: Any) -> pathlib.Path:
        """Write a flows.yaml holding `flows` (and any top-level keys) and return its path."""
        self.count += 1
        path = self.root / f"flows-{self.count}.yaml"
        if self.connections and "connections" not in top:
            top = {"connections": self.connections, **top}
        path.write_text(yaml.safe_dump({"flows": flows, **top}, sort_keys=False))
        return path

    def run(self, flows: dict[str, Any], **top: Any) -> list[FlowResult]:
        """Run `flows` and return the results (failures included, not raised)."""
        return run_file(str(self.write(flows, **top)))

    def run_ok(self, flows: dict[str, Any], **top: Any) -> list[FlowResult]:
        """Run `flows` and fail the test with the flows' errors unless all succeeded."""
        results = self.run(flows, **top)
        bad = [f"{r.name}: {r.error}" for r in results if r.status != "ok"]
        assert not bad, "flows failed:\n" + "\n".join(bad)
        return results

    def config_error(self, flows: dict[str, Any], **top: Any) -> str:
        """The message `hygge run` would print for an invalid `flows`; fails if it is valid."""
        try:
            self.run(flows, **top)
        except ConfigError as exc:
            return exc.render()
        raise AssertionError("the flows were accepted, but a config error was expected")

    @staticmethod
    def read_parquet_dir(path: str | pathlib.Path) -> pa.Table:
        """Everything a reader sees in a Parquet store directory (hidden paths skipped)."""
        return pq.read_table(str(path))
