"""Opening the catalog a flow names, with storage settings from hygge's connections.

The embedded default is a SQL catalog on SQLite inside `warehouse:` (no server); a shared
SQL catalog (PostgreSQL) or a REST catalog is named by `catalog: {uri: ...}`. A hygge-cloud
connection (`type: s3`) is turned into pyiceberg's `s3.*` file-IO properties, so one
`connections:` entry serves hygge's own reads and writes and pyiceberg's.
"""

from __future__ import annotations

import os
from typing import Any

from hygge_core import FlowContext, PermanentError, first_line
from hygge_iceberg.config import _IcebergCommon

_S3 = {
    "key": "s3.access-key-id",
    "secret": "s3.secret-access-key",
    "session_token": "s3.session-token",
    "region": "s3.region",
    "endpoint_url": "s3.endpoint",
}


def warehouse_uri(path: str) -> str:
    """A warehouse as pyiceberg wants it: a URL (`file://` for a local folder)."""
    if "://" in path:
        return path
    return "file://" + os.path.abspath(os.path.expanduser(path))


def catalog_properties(config: _IcebergCommon, context: FlowContext) -> dict[str, str]:
    """Every property of the flow's catalog, credentials included: never log them."""
    props: dict[str, str] = {}
    if config.connection:
        settings = context.connection(config.connection)
        props.update({p: str(settings[k]) for k, p in _S3.items() if settings.get(k)})
    catalog = config.catalog
    if catalog is None or catalog.uri is None:
        assert config.warehouse is not None  # checked by the config model
        if "://" in config.warehouse and not config.warehouse.startswith("file://"):
            raise PermanentError(
                f"warehouse: {config.warehouse} holds an embedded SQLite catalog, which must "
                "be on a local disk; name a shared catalog with catalog: {uri: ...} for "
                "object-store warehouses"
            )
        folder = warehouse_uri(config.warehouse).removeprefix("file://")
        os.makedirs(folder, exist_ok=True)
        props.update(
            {
                "type": "sql",
                "uri": f"sqlite:///{folder}/catalog.db",
                "warehouse": f"file://{folder}",
            }
        )
        return props
    props.update(catalog.properties)
    props["type"] = catalog.type
    props["uri"] = catalog.uri
    warehouse = catalog.warehouse or config.warehouse
    if warehouse:
        props["warehouse"] = warehouse_uri(warehouse)
    return props


def open_catalog(config: _IcebergCommon, context: FlowContext) -> Any:
    """The pyiceberg catalog of the flow (a new client: catalogs hold connections)."""
    from pyiceberg.catalog import load_catalog

    name = config.catalog.name if config.catalog else "hygge"
    props = catalog_properties(config, context)
    try:
        return load_catalog(name, **props)
    except Exception as exc:  # pyiceberg raises many kinds; the user needs the first line
        raise PermanentError(
            f"cannot open the Iceberg catalog ({props.get('type')} at {_shown(props)}): "
            f"{first_line(exc)}"
        ) from None


def _shown(props: dict[str, str]) -> str:
    uri = props.get("uri", "?")
    # A catalog URL may carry a password (postgresql://user:pw@host/db): show the host only.
    scheme, sep, rest = uri.partition("://")
    return f"{scheme}://{rest.rsplit('@', 1)[-1]}" if sep else uri
