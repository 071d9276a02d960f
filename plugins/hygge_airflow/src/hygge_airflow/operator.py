"""`HyggeOperator`: an Airflow task that runs flows of a flows.yaml, on hygge_core.api.

The task fails with hygge's one-line messages (secrets masked) when a flow fails, and
returns each flow's rows, bytes, seconds and run id (Airflow pushes it to XCom).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from hygge_core.api import run_file


class HyggeFailed(Exception):
    """A flow run by `HyggeOperator` failed; the message names each flow and its error."""


class HyggeOperator(BaseOperator):
    """Run the flows of `flows_file` (all, or those in `flows`) as one Airflow task."""

    template_fields: Sequence[str] = ("flows_file", "flows")

    def __init__(self, *, flows_file: str, flows: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flows_file = flows_file
        self.flows = flows

    def execute(self, context: Any) -> dict[str, dict[str, Any]]:
        results = run_file(self.flows_file, self.flows)
        failed = [f"{r.name}: {r.error}" for r in results if r.status != "ok"]
        if failed:
            raise HyggeFailed("hygge: " + "; ".join(failed))
        for r in results:
            self.log.info("hygge flow %s: %s rows in %.2f s", r.name, f"{r.rows:,}", r.seconds)
        return {
            r.name: {"rows": r.rows, "bytes": r.bytes, "seconds": r.seconds, "run_id": r.run_id}
            for r in results
        }
