"""What a Home or Store knows about the run it is part of."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hygge_core.errors import PermanentError
from hygge_core.memory import FlowMemory
from hygge_core.storage import StorageResolver

if TYPE_CHECKING:
    import fsspec  # the type only: fsspec loads with the first filesystem opened


@dataclass
class FlowContext:
    """The flow a Home or Store serves, its run, its connections and its storage.

    Plain data plus a picklable `StorageResolver`, so the same context travels to Dask
    workers. `connections` hold secrets: never log them, never put them in an error.

    `memory` is the flow's byte budget as the run admitted it: `memory.share.reader` is what
    a Home may read ahead or parse at once for one unit, `memory.share.writer` what a Store
    may hold in one unit's open row group or buffer; both count what they hold with
    `memory.hold(n)` / `memory.hold(-n)`. It is set before units move (not at plan time).

    `parallelism` is how many units of the flow the executor runs at once (the flow's
    `parallelism:`, else one per core), known before `Home.plan`; None when the executor
    sets no limit (a Dask cluster). A home that can cut its read finely uses it to plan a
    multiple of that many units of equal size, so no core idles at the end of the flow.
    """

    flow: str
    run_id: str
    storage: StorageResolver
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    schema_drift: str = "strict"
    memory: FlowMemory = field(default_factory=lambda: FlowMemory(64 << 20))
    parallelism: int | None = None

    def connection(self, name: str) -> dict[str, Any]:
        """The settings of the named connection (as written under `connections:`)."""
        try:
            return self.connections[name]
        except KeyError:
            known = ", ".join(sorted(self.connections)) or "none defined"
            raise PermanentError(
                f"connection '{name}' is not defined under connections: ({known})"
            ) from None

    def filesystem(
        self, url: str, connection: str | None = None
    ) -> tuple[fsspec.AbstractFileSystem, str]:
        """(fsspec filesystem, path inside it) for a file URL or local path."""
        return self.storage.resolve(url, connection)
