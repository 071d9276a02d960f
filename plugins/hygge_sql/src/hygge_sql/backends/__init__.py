"""One `Backend` per kind of database; `backend_for` picks it from the URL."""

from __future__ import annotations

from sqlalchemy.engine import URL

from hygge_sql.backends.base import Backend, Binds, Ledger, execute_sql

__all__ = ["Backend", "Binds", "Ledger", "backend_for", "execute_sql"]


def backend_for(url: URL, pool_size: int | None = None) -> Backend:
    """The backend serving `url` (SQLAlchemy's generic path for databases hygge has no
    fast path for)."""
    name = url.get_backend_name()
    if name == "postgresql":
        from hygge_sql.backends.postgresql import PostgresBackend

        return PostgresBackend(url, pool_size)
    if name == "sqlite":
        from hygge_sql.backends.sqlite import SqliteBackend

        return SqliteBackend(url, pool_size)
    if name in ("mysql", "mariadb"):
        from hygge_sql.backends.mysql import MysqlBackend

        return MysqlBackend(url, pool_size)
    return Backend(url, pool_size)
