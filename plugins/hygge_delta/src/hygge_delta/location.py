"""Where a Delta table lives, in the two forms its readers and writers need.

hygge reads and writes the table's data files through its own storage layer (fsspec, the
named connections of hygge-cloud), but the Delta log is committed by delta-rs, which speaks
to object stores itself and takes its settings as `storage_options`. This module turns a
path and a hygge connection into both, so one `connections:` entry serves both sides.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from hygge_core import FlowContext, PermanentError, arrow_filesystem

# hygge-cloud connection fields → delta-rs (object_store) options, per protocol.
_S3 = {
    "key": "AWS_ACCESS_KEY_ID",
    "secret": "AWS_SECRET_ACCESS_KEY",
    "session_token": "AWS_SESSION_TOKEN",
    "region": "AWS_REGION",
    "endpoint_url": "AWS_ENDPOINT_URL",
}
_AZURE = {
    "account_name": "AZURE_STORAGE_ACCOUNT_NAME",
    "account_key": "AZURE_STORAGE_ACCOUNT_KEY",
    "sas_token": "AZURE_STORAGE_SAS_TOKEN",
    "tenant_id": "AZURE_STORAGE_TENANT_ID",
    "client_id": "AZURE_STORAGE_CLIENT_ID",
    "client_secret": "AZURE_STORAGE_CLIENT_SECRET",
}


@dataclass(frozen=True)
class TableLocation:
    """A table's URI for delta-rs with its `storage_options`, and the path as hygge names it.

    `options` may hold credentials: never log it (`uri` holds none).
    """

    uri: str
    options: dict[str, str] = field(default_factory=dict, repr=False)


class TablePlace:
    """The table folder of a Delta home or store (`config.path`, `config.connection`) in
    every form they use: `fs` and `root` (hygge's storage, for data files and hygge's own
    bookkeeping), `afs` (the same for Arrow) and `location` (for delta-rs). All open lazily
    and are listed in the class's `transient`: homes and stores travel pickled."""

    context: FlowContext
    config: Any  # a config with `path` and `connection`

    @cached_property
    def fs(self) -> Any:
        """The fsspec filesystem of the table folder."""
        return self.context.filesystem(self.config.path, self.config.connection)[0]

    @cached_property
    def root(self) -> str:
        """The table folder as `fs` names it."""
        return self.context.filesystem(self.config.path, self.config.connection)[1].rstrip("/")

    @cached_property
    def afs(self) -> Any:
        """The same filesystem for Arrow's readers and writers."""
        return arrow_filesystem(self.fs)

    @cached_property
    def location(self) -> TableLocation:
        """The table as delta-rs opens it."""
        return locate(self.context, self.config.path, self.config.connection)


def locate(context: FlowContext, path: str, connection: str | None) -> TableLocation:
    """The Delta location of `path` (a local folder or an `s3://` / `az://` URL)."""
    protocol, sep, rest = path.partition("://")
    if not sep:
        return TableLocation(os.path.abspath(os.path.expanduser(path)))
    settings: dict[str, Any] = context.connection(connection) if connection else {}
    if protocol in ("s3", "s3a"):
        return TableLocation(f"s3://{rest}", _s3_options(settings))
    if protocol == "az":
        return TableLocation(f"az://{rest}", _azure_options(settings))
    if protocol in ("abfs", "abfss"):
        # Kept as written: delta-rs reads the account of `abfss://container@ACCOUNT.dfs...`
        # from the URL itself, which an `az://` URL cannot carry.
        return TableLocation(f"{protocol}://{rest}", _azure_options(settings))
    if protocol == "file":
        return TableLocation(rest if rest.startswith("/") else os.path.abspath(rest))
    raise PermanentError(
        f"Delta tables on '{protocol}://' paths are not supported by hygge-delta; "
        "use a local folder, s3:// or az://"
    )


def _s3_options(settings: dict[str, Any]) -> dict[str, str]:
    options = {option: str(settings[name]) for name, option in _S3.items() if settings.get(name)}
    endpoint = options.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL", "")
    if endpoint.startswith("http://"):
        options["AWS_ALLOW_HTTP"] = "true"  # an S3-compatible server without TLS (MinIO)
    if settings.get("anonymous"):
        options["AWS_SKIP_SIGNATURE"] = "true"
    # Commits must be atomic "create if absent" writes of the next log entry; S3 offers
    # that through conditional PUT (If-None-Match), which delta-rs uses when told to.
    options.setdefault("conditional_put", "etag")
    return options


def _azure_options(settings: dict[str, Any]) -> dict[str, str]:
    options = {option: str(settings[name]) for name, option in _AZURE.items() if settings.get(name)}
    if settings.get("account_host"):  # a sovereign cloud: the account's blob host
        options["AZURE_STORAGE_ENDPOINT"] = f"https://{settings['account_host']}"
    conn = settings.get("connection_string") or (
        "" if options else os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
    )
    if conn:
        options.update(_connection_string_options(str(conn)))
    if settings.get("anonymous"):
        options["AZURE_SKIP_SIGNATURE"] = "true"
    return options


def _connection_string_options(conn: str) -> dict[str, str]:
    """delta-rs's options for an Azure connection string, which it does not parse itself:
    "AccountName=...;AccountKey=...;BlobEndpoint=..." (Azurite gives its endpoint this way)."""
    parts = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
    if parts.get("UseDevelopmentStorage", "").lower() == "true":
        return {"AZURE_STORAGE_USE_EMULATOR": "true"}  # Azurite on its default ports
    options: dict[str, str] = {}
    if "AccountName" in parts:
        options["AZURE_STORAGE_ACCOUNT_NAME"] = parts["AccountName"]
    if "AccountKey" in parts:
        options["AZURE_STORAGE_ACCOUNT_KEY"] = parts["AccountKey"]
    if "SharedAccessSignature" in parts:
        options["AZURE_STORAGE_SAS_TOKEN"] = parts["SharedAccessSignature"]
    endpoint = parts.get("BlobEndpoint", "").rstrip("/")
    scheme, _, address = endpoint.partition("://")
    host, _, account = address.partition("/")
    if account and account == parts.get("AccountName"):
        # A path-style endpoint (http://HOST:PORT/ACCOUNT) is an emulator's (Azurite). Given
        # it as a plain endpoint, delta-rs reads and appends, but its DELETE and MERGE fail
        # ("Invalid table version"); in its emulator mode all work. object_store takes the
        # emulator's address only from this environment variable, for the whole process.
        os.environ["AZURITE_BLOB_STORAGE_URL"] = f"{scheme}://{host}"
        return {**options, "AZURE_STORAGE_USE_EMULATOR": "true"}
    if not endpoint and "EndpointSuffix" in parts and "AccountName" in parts:
        scheme = parts.get("DefaultEndpointsProtocol", "https")
        endpoint = f"{scheme}://{parts['AccountName']}.blob.{parts['EndpointSuffix']}"
    if endpoint:
        options["AZURE_STORAGE_ENDPOINT"] = endpoint
        if endpoint.startswith("http://"):
            # object_store refuses plain HTTP unless told; Azurite serves nothing else.
            # The key is `azure_allow_http` (a client option), not `azure_storage_...`.
            options["AZURE_ALLOW_HTTP"] = "true"
    return options
