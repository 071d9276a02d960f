"""The Store contract: where data should settle, staged first and committed atomically."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hygge_core.context import FlowContext
from hygge_core.health import Finding
from hygge_core.paths import RelativePaths
from hygge_core.state import FlowState, RunRecord
from hygge_core.units import WorkUnit

Mode = Literal["append", "replace", "merge"]


class StoreConfig(RelativePaths, BaseModel):
    """Options every store accepts; plugins subclass it with their own fields."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    type: str = Field(description="the store type, as registered by a plugin")
    mode: Mode = Field(default="append", description="append, replace or merge")
    keys: list[str] | None = Field(default=None, description="key columns, for mode: merge")
    path_fields: ClassVar[tuple[str, ...]] = ("path",)  # see RelativePaths

    @model_validator(mode="after")
    def _merge_needs_keys(self) -> StoreConfig:
        if self.mode == "merge" and not self.keys:
            raise ValueError("mode: merge needs keys: [column, ...] naming the key columns")
        if self.keys and self.mode != "merge":
            # append and replace would ignore them: a user who wrote keys meant an upsert.
            raise ValueError(
                f"keys: is used only by mode: merge, and mode is {self.mode}; "
                "use mode: merge to upsert by these keys, or remove keys:"
            )
        return self


@dataclass(frozen=True)
class StagedUnit:
    """A receipt for one unit's staged output: plain data, sent back from any worker.

    `payload` is the store's own description of what it staged (file names, a staging
    table); `commit` receives every receipt of the run.
    """

    unit_id: str
    rows: int
    bytes: int
    payload: dict[str, Any] = field(default_factory=dict)


class Store(ABC):
    """A place data settles. Stages each unit's batches, then commits the run atomically.

    The promise a Store keeps: nothing staged is visible to readers until `commit`; `commit`
    publishes every staged unit and the new `FlowState` in one atomic step (or a step that a
    later `recover` rolls forward); after a crash at any instant, `recover` brings the store
    back to the last committed state or completes the interrupted commit.

    `stage` may run in other threads, processes or Dask workers on pickled copies, so open
    resources lazily and list them in `transient`.
    """

    config_model: ClassVar[type[StoreConfig]] = StoreConfig
    modes: ClassVar[frozenset[str]] = frozenset({"append", "replace"})
    transient: ClassVar[tuple[str, ...]] = ()
    supports_resume: ClassVar[bool] = False
    # True when only one process may open the target at a time (an embedded database file
    # such as DuckDB's): hygge refuses to run the flow on an executor whose units run in
    # other processes (Dask) instead of letting workers fight over the file. A property
    # may decide per instance (a SQL store on a SQLite URL, say).
    single_process: ClassVar[bool] = False
    arrow_types: ClassVar[Collection[str] | None] = None
    fault_points: ClassVar[tuple[str, ...]] = ()
    """The steps of `commit` this store marks with `hygge_core.faults.fault_point`, in
    order; the kit kills a run at each of them and checks that a rerun converges."""
    # The model of `connections:` entries whose `type:` is this type's name (a database's
    # URL, user, password): `validate` checks them at their lines. None: the type has none.
    connection_model: ClassVar[type[BaseModel] | None] = None

    def __init__(self, config: StoreConfig, context: FlowContext) -> None:
        self.config = config
        self.context = context

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in self.transient:
            state.pop(name, None)
        return state

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Held while the flow runs, to keep a second process off the same target."""
        return contextlib.nullcontext()

    def recover(self) -> list[str]:
        """Finish or undo what a crashed run left; return one line per thing done."""
        return []

    @abstractmethod
    def read_state(self) -> FlowState | None:
        """This flow's committed state, or None if the flow never committed here."""

    def reset_state(self) -> bool:
        """Forget this flow's state so the next run is a full load; True if there was one."""
        return False

    def prepare(self, schema: pa.Schema) -> None:
        """Check that `schema` can be written before anything is read; raise if not.

        Called once on the driver. Apply the flow's schema-drift policy
        (`self.context.schema_drift`) here: fail with a column-by-column diff, or evolve.
        """

    @abstractmethod
    def stage(self, unit: WorkUnit, batches: Iterable[pa.RecordBatch]) -> StagedUnit:
        """Write one unit's batches where readers cannot see them; return a receipt."""

    def remember(self, fingerprint: str, record: dict[str, Any]) -> None:
        """Note that a unit is fully staged, so a run after a crash can adopt it.

        `record` is plain JSON-able data made by core (the receipt, rows, cursor maximum).
        Stores that set `supports_resume` keep it beside the staged data; others ignore it.
        """

    def resumable(self) -> dict[str, dict[str, Any]]:
        """Units staged by earlier runs that never committed, by fingerprint.

        Core adopts those whose fingerprint matches a unit of the new plan instead of
        reading them again; `commit` then publishes their staged data with the rest.
        """
        return {}

    @abstractmethod
    def commit(self, staged: list[StagedUnit], state: FlowState) -> None:
        """Publish every staged unit and `state` atomically (see the class docstring)."""

    @abstractmethod
    def abort(self, staged: list[StagedUnit]) -> None:
        """Remove what was staged; the store is left exactly as before the run."""

    def describe(self) -> str:
        """A short, secret-free description for logs and the run summary."""
        return self.config.type

    def check(self) -> str | None:
        """Try to reach the target once; None if fine, else a one-line reason."""
        return None

    def record_failure(self, record: RunRecord) -> bool:
        """Keep a failed run's `record` in the flow's run history, beside the committed
        runs, so that `hygge history` shows the failure; True if kept.

        Called while holding `lock()`, after the run aborted, and only for a flow that has
        committed here before (a store that never held the flow gains nothing). It must
        change neither the data nor the cursor. The default keeps nothing.
        """
        return False

    def health(self) -> list[Finding]:
        """What `hygge doctor` should know about this store beyond `check()`: unfinished
        commits, staging no run will commit, free space. Stores with their own notion of
        staging override it; the default reports nothing."""
        return []

    def close(self) -> None:
        """Release open resources."""
