"""What a SQL home and a SQL store share: the database backend, made on first use."""

from __future__ import annotations

from typing import Any

from hygge_core import FlowContext, PermanentError
from hygge_sql.backends import Backend, backend_for
from hygge_sql.config import resolve_url
from hygge_sql.engines import check_driver, normalize_url


class OnDatabase:
    """Mixed into `SqlHome` and `SqlStore`: `backend`, the database their config names.

    Made on first use in each process (homes and stores travel pickled, and `_backend` is
    in their `transient`); a missing driver is reported naming `where` and the extra.
    """

    config: Any
    context: FlowContext

    @property
    def where(self) -> str:
        """How errors name the table or query (each class says it its way)."""
        raise NotImplementedError

    @property
    def backend(self) -> Backend:
        """The backend for this object's database, made on first use (per process)."""
        found: Backend | None = getattr(self, "_backend", None)
        if found is None:
            url = normalize_url(resolve_url(self.config, self.context))
            try:
                check_driver(url)
            except PermanentError as exc:
                raise PermanentError(f"{self.where}: {exc}") from None
            found = self._backend = backend_for(url, self.config.pool_size)
        return found
