"""hygge-sql: the `sql` home and store, on SQLAlchemy 2 with fast paths per database."""

from __future__ import annotations

from hygge_core import lazy_exports

__version__ = "0.1.0"
__all__ = ["SqlHome", "SqlHomeConfig", "SqlStore", "SqlStoreConfig", "__version__"]

# Imported on first use: loading the plugin (every `hygge` command does) must not import
# SQLAlchemy and the drivers unless a flow uses them.
_EXPORTS = {
    "SqlHome": "hygge_sql.home",
    "SqlHomeConfig": "hygge_sql.home",
    "SqlStore": "hygge_sql.store",
    "SqlStoreConfig": "hygge_sql.store",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)
