"""The Home contract: where data lives, and how to read it as Arrow."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hygge_core.context import FlowContext
from hygge_core.paths import RelativePaths
from hygge_core.state import FlowState
from hygge_core.units import Window, WorkUnit


class IncrementalConfig(BaseModel):
    """`incremental:` on a home: read only rows whose cursor passed the last committed one."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    cursor: str = Field(description="column whose value only grows (updated_at, id)")
    lookback: str | int | float | None = Field(
        default=None,
        description="re-read this much before the last cursor ('1 hour', '2 days', or a number)",
    )
    start: Any = Field(default=None, description="on a first load, read rows after this value")

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: str | int | float | None) -> str | int | float | None:
        # Checked here, not when first used: that is the second run, after validate passed.
        from hygge_core.errors import HyggeError
        from hygge_core.incremental import parse_lookback

        if value is not None:
            try:
                parse_lookback(value)
            except HyggeError as exc:
                raise ValueError(str(exc)) from None
        return value


class HomeConfig(RelativePaths, BaseModel):
    """Options every home accepts; plugins subclass it with their own fields."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    type: str = Field(description="the home type, as registered by a plugin")
    incremental: IncrementalConfig | None = Field(
        default=None, description="read incrementally by a cursor column"
    )
    path_fields: ClassVar[tuple[str, ...]] = ("path",)  # see RelativePaths


class Home(ABC):
    """A place data lives. Plans its read as work units and yields Arrow record batches.

    Lifecycle: constructed on the driver with its validated config; `schema()` and `plan()`
    run there; `read(unit)` may run in another thread, process or Dask worker, on a copy made
    by pickling. So hold no open connection in `__init__`: open lazily, and list the
    attributes that hold open resources in `transient` so they are dropped when pickled.
    """

    config_model: ClassVar[type[HomeConfig]] = HomeConfig
    supports_incremental: ClassVar[bool] = False
    splits: ClassVar[bool] = False
    # Only one process may open the source (an embedded database file): see Store.
    single_process: ClassVar[bool] = False
    arrow_types: ClassVar[Collection[str] | None] = None
    transient: ClassVar[tuple[str, ...]] = ()
    # The model of `connections:` entries whose `type:` is this type's name (a database's
    # URL, user, password): `validate` checks them at their lines. None: the type has none.
    connection_model: ClassVar[type[BaseModel] | None] = None

    def __init__(self, config: HomeConfig, context: FlowContext) -> None:
        self.config = config
        self.context = context

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in self.transient:
            state.pop(name, None)
        return state

    @abstractmethod
    def schema(self) -> pa.Schema:
        """The schema of every batch `read` yields (after column selection)."""

    @abstractmethod
    def plan(self, window: Window | None) -> list[WorkUnit]:
        """Split the read into independent units; `window` bounds an incremental read."""

    @abstractmethod
    def read(self, unit: WorkUnit) -> Iterator[pa.RecordBatch]:
        """Stream one unit's rows as batches of `schema()`, never the whole unit at once."""

    @classmethod
    def entity_names(cls, query: str, home: dict[str, Any], context: FlowContext) -> list[str]:
        """The names a flow template's `entities: {query: ...}` expands to.

        `home` is the template's home mapping as written (its `{entity}` placeholders not
        yet filled: use only what names the source, such as `connection:` or `url:`).
        Return one name per row of `query`'s first column. Types that cannot run a query
        keep this default, which refuses with a message the user sees at the template's
        line.
        """
        from hygge_core.errors import PermanentError

        raise PermanentError(
            f"home type '{home.get('type')}' cannot list entities with a query; write "
            "entities: as a list, or as {glob: PATTERN} for files"
        )

    def begin(self, state: FlowState | None) -> None:
        """Called on the driver before each attempt's `plan`, with the flow's state as the
        store committed it (None on a first run, and under `--full-refresh`).

        A home that reads "what is new since last time" by a position of its own (a table
        snapshot, a stream offset, a replication LSN) rather than by a cursor column takes
        `state.position` here for `plan`, and forgets what an earlier, failed attempt read.
        """

    def position(self) -> Any:
        """The position to commit with this run's data, as plain JSON data (None: keep the
        committed one). Called on the driver once every unit is staged, just before the
        commit, which stores it as `FlowState.position` in the same atomic step as the data.
        Units ran on this very object only on an in-process executor: a home that counts on
        that declares `single_process`."""
        return None

    def committed(self, state: FlowState) -> None:
        """Called on the driver right after the store committed the run with `state`: a
        source with positions may now release what the run read (acknowledge queue
        messages, advance a replication slot), never earlier.

        A crash or a failure before or in this call leaves the source unreleased, so it
        delivers again; the position committed with the data is what lets the next run drop
        what is already stored. A failure here is reported as a note, not retried: the data
        is committed. The default does nothing.
        """

    def describe(self) -> str:
        """A short, secret-free description for logs and the run summary."""
        return self.config.type

    def check(self) -> str | None:
        """Try to reach the data once; None if fine, else a one-line reason."""
        return None

    def status(self, state: FlowState | None) -> str | None:
        """One line about the source's side of the flow for `hygge state show` (a
        replication slot's lag), given the state the store committed; None: nothing."""
        return None

    def close(self) -> None:
        """Release whatever `read` opened. Called once per copy when the flow ends."""
