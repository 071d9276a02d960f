"""What a Home or Store knows about the run it is part of."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import fsspec

from hygge_core.errors import PermanentError
from hygge_core.storage import StorageResolver


@dataclass
class FlowContext:
    """The flow a Home or Store serves, its run, its connections and its storage.

    Plain data plus a picklable `StorageResolver`, so the same context travels to Dask
    workers. `connections` hold secrets: never log them, never put them in an error.
    """

    flow: str
    run_id: str
    storage: StorageResolver
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    schema_drift: str = "strict"

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
