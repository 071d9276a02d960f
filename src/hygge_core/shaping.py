"""A flow's compiled `transform:` chain and `checks:`, the one extension point of the data path.

`run_unit` hands every batch a home yields to `Shaping.apply` before the store sees it, and
to the checks' partials after; the runner derives the schema the store is prepared with from
`output_schema`, and combines every unit's partials with `outcomes` before it commits.
A `Shaping` is plain data and pickles to Dask workers (expressions recompile there).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from hygge_core.checks import Check, CheckOutcome, UnitScope
from hygge_core.errors import PermanentError
from hygge_core.expr import ExprError
from hygge_core.transforms import RunInfo, Transform


@dataclass(frozen=True)
class Step:
    """One transform or check with where it was written: `flows.yaml:12` and its label."""

    obj: Any
    kind: str  # the registered type name, e.g. "rename"
    where: str
    index: int

    @property
    def label(self) -> str:
        return f"{self.kind} (transform {self.index + 1}, {self.where})"


@dataclass
class Shaping:
    """The transforms and checks of one flow, and the run they stamp."""

    flow: str
    transforms: list[Step] = field(default_factory=list)
    checks: list[Step] = field(default_factory=list)
    run: RunInfo = field(default_factory=RunInfo)

    def __bool__(self) -> bool:
        return bool(self.transforms or self.checks)

    def for_run(self, run_id: str, started: dt.datetime) -> Shaping:
        """A copy that stamps `run_id` and `started` (load metadata columns)."""
        return dataclasses.replace(self, run=RunInfo(run_id, started))

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Every transform in order; a data or column problem names the transform."""
        for step in self.transforms:
            transform: Transform = step.obj
            try:
                batch = transform.apply(batch, self.run)
            except ExprError as exc:
                raise PermanentError(
                    f"flow {self.flow}: {step.label}: {exc.message} (at character "
                    f"{exc.offset + 1} of the expression)"
                ) from None
            except (ValueError, pa.ArrowException) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise PermanentError(f"flow {self.flow}: {step.label}: {reason}") from None
        return batch

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        """The schema the transforms make of `schema`, with every check's columns present;
        a missing column or a type that does not combine fails here, before any data moves."""
        empty = pa.RecordBatch.from_pylist([], schema=schema)
        out = self.apply(empty).schema
        probe = pa.RecordBatch.from_pylist([], schema=out)
        for step in self.checks:
            check: Check = step.obj
            missing = [c for c in check.columns() if c not in out.names]
            if missing:
                raise PermanentError(
                    f"flow {self.flow}: check {check.label} ({step.where}): column "
                    f"'{missing[0]}' is not in the transformed rows; columns: "
                    f"{', '.join(out.names)}"
                )
            try:
                check.observe(check.start(UnitScope(self.flow, "probe", "probe", 0)), probe)
            except ExprError as exc:
                raise PermanentError(
                    f"flow {self.flow}: check {check.label} ({step.where}): {exc.message}"
                ) from None
            except (ValueError, pa.ArrowException) as exc:
                raise PermanentError(
                    f"flow {self.flow}: check {check.label} ({step.where}): "
                    f"{str(exc).splitlines()[0]}"
                ) from None
        return out

    # -- checks, per unit ---------------------------------------------------------------

    def open(self, scope: UnitScope) -> list[dict[str, Any]]:
        """Fresh partials for one unit."""
        return [step.obj.start(scope) for step in self.checks]

    def observe(self, partials: list[dict[str, Any]], batch: pa.RecordBatch) -> None:
        """Fold a transformed batch into each check's partial."""
        for step, partial in zip(self.checks, partials, strict=True):
            partial["rows"] += batch.num_rows
            try:
                step.obj.observe(partial, batch)
            except ExprError as exc:
                raise PermanentError(
                    f"flow {self.flow}: check {step.obj.label} ({step.where}): {exc.message}"
                ) from None

    def finish(self, partials: list[dict[str, Any]]) -> None:
        """The unit is staged."""
        for step, partial in zip(self.checks, partials, strict=True):
            step.obj.finish(partial)

    def usable(self, partials: list[dict[str, Any]] | None) -> bool:
        """Whether an interrupted run's partials of a unit can stand in for re-reading it."""
        if not self.checks:
            return True
        if partials is None or len(partials) != len(self.checks):
            return False
        return all(s.obj.usable(p) for s, p in zip(self.checks, partials, strict=True))

    # -- checks, in the driver ------------------------------------------------------------

    def outcomes(self, per_unit: list[list[dict[str, Any]]]) -> list[CheckOutcome]:
        """Every check's outcome over all units."""
        found = []
        for i, step in enumerate(self.checks):
            outcome = step.obj.combine([partials[i] for partials in per_unit])
            outcome.check, outcome.where = step.kind, step.where
            found.append(outcome)
        return found

    def cleanup(self, per_unit: list[list[dict[str, Any]]]) -> None:
        """Remove what the checks spilled (after commit or abort), this run's included
        when no unit's partials came back (every unit failed)."""
        fresh = self.open(UnitScope(self.flow, self.run.run_id, "", 0))
        for i, step in enumerate(self.checks):
            step.obj.cleanup([*(p[i] for p in per_unit if len(p) > i), fresh[i]])


class ChecksFailed(PermanentError):
    """An error-severity check failed: the flow aborts before its commit."""

    def __init__(self, failed: list[CheckOutcome]) -> None:
        self.failed = failed
        text = "; ".join(o.describe() for o in failed)
        super().__init__(
            f"{len(failed)} check(s) of severity error failed, nothing was committed: {text}"
        )
