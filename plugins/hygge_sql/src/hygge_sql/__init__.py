"""hygge-sql: the `sql` home and store, on SQLAlchemy 2 with fast paths per database."""

from __future__ import annotations

from hygge_sql.home import SqlHome, SqlHomeConfig
from hygge_sql.store import SqlStore, SqlStoreConfig

__version__ = "0.1.0"
__all__ = ["SqlHome", "SqlHomeConfig", "SqlStore", "SqlStoreConfig", "__version__"]
