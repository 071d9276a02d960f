"""Azure Blob Storage and ADLS Gen2 through adlfs: `az://`, `abfs://` and `abfss://` paths."""

from __future__ import annotations

import asyncio
import errno
import functools
import re
from typing import Any, Literal

import fsspec
from pydantic import Field, model_validator

from hygge_cloud.base import CloudStorage, need
from hygge_cloud.errors import LINE_LIMIT, CredentialsMissing, Fault
from hygge_cloud.guard import Rules, guarded
from hygge_core import ConnectionConfig, first_line

# `container@account.dfs.core.windows.net/dir`: the form Spark and Databricks users write.
ACCOUNT_URL = re.compile(
    r"^(?P<container>[^@/]+)@(?P<account>[a-z0-9]+)\.(?:dfs|blob)\.(?P<suffix>[^/]+)(?:/(?P<path>.*))?$"
)
PUBLIC_CLOUD = "core.windows.net"
REJECTED = frozenset(
    {"AuthenticationFailed", "InvalidAuthenticationInfo", "NoAuthenticationInformation"}
)
# How long to wait for a server-side copy that Azure reports as pending.
COPY_TIMEOUT = 600.0
# Seconds to open a connection to the account (the SDK's default is 20, tried four times
# with backoff: an unreachable account took minutes). Documented in docs/cloud.md.
CONNECT_TIMEOUT = 10


class AzureConnection(ConnectionConfig):
    """`connections: {NAME: {type: azure, ...}}`: an Azure storage account.

    Give one way to sign: `account_key`, `sas_token`, `connection_string`, a service
    principal (`tenant_id`, `client_id`, `client_secret`), or none of them to use
    DefaultAzureCredential (environment, workload or managed identity, `az login`).
    """

    type: Literal["azure"] = "azure"
    account_name: str | None = Field(default=None, description="the storage account")
    account_key: str | None = Field(default=None, description="a shared key of the account")
    sas_token: str | None = Field(default=None, description="a shared access signature")
    connection_string: str | None = Field(
        default=None, description="a full connection string (also names the account)"
    )
    tenant_id: str | None = Field(default=None, description="service principal: tenant")
    client_id: str | None = Field(default=None, description="service principal: app id")
    client_secret: str | None = Field(default=None, description="service principal: secret")
    account_host: str | None = Field(
        default=None,
        description="blob endpoint host outside the public cloud, e.g. "
        "acct.blob.core.chinacloudapi.cn",
    )
    anonymous: bool = Field(default=False, description="unsigned requests (public containers)")

    @model_validator(mode="after")
    def _one_way_to_sign(self) -> AzureConnection:
        principal = [self.tenant_id, self.client_id, self.client_secret]
        if any(principal) and not all(principal):
            raise ValueError("a service principal needs tenant_id, client_id and client_secret")
        ways = [
            self.account_key is not None,
            self.sas_token is not None,
            self.connection_string is not None,
            all(principal),
            self.anonymous,
        ]
        if sum(ways) > 1:
            raise ValueError(
                "give one of account_key, sas_token, connection_string, a service "
                "principal, or anonymous: true"
            )
        if self.connection_string is None and self.account_name is None:
            raise ValueError("account_name is required (or give a connection_string)")
        return self


class AzureRules(Rules):
    """What azure-core, azure-identity and adlfs exceptions mean."""

    service = "Azure Storage"
    bucket_word = "container"

    @staticmethod
    def classify(exc: BaseException) -> Fault | None:
        from azure.core import exceptions as ax

        try:
            from azure.identity import CredentialUnavailableError
        except ImportError:  # pragma: no cover - azure-identity comes with adlfs
            CredentialUnavailableError = ()  # type: ignore[assignment,misc]
        if isinstance(exc, CredentialUnavailableError):
            return Fault(
                "no_credentials",
                "DefaultAzureCredential found none: set account_key, sas_token, "
                "connection_string or a service principal on a connection, or sign in "
                "(az login, managed identity)",
            )
        if isinstance(exc, ax.ServiceRequestError | ax.ServiceResponseError):
            return Fault("transient", first_line(exc, LINE_LIMIT))
        if not isinstance(exc, ax.HttpResponseError):
            return None
        status = exc.status_code or 0
        error_code = getattr(exc, "error_code", None)  # set by azure-core on service errors
        code = str(getattr(error_code, "value", error_code) or "")
        message = first_line(exc.message or exc, LINE_LIMIT)
        detail = f"{code}: {message}" if code else message
        if code == "ContainerNotFound":
            return Fault("missing_bucket", "")
        if (
            status == 401
            or code in REJECTED
            or "failed to authenticate" in message.lower()
            or (status == 0 and isinstance(exc, ax.ClientAuthenticationError))
        ):
            return Fault("rejected", detail)
        if status == 403:
            return Fault("denied", detail)
        if status in (408, 429) or status >= 500:
            return Fault("transient", detail)
        return None


class _AzureOverrides:
    """Azure-only behaviour of the guarded filesystem."""

    def do_connect(self) -> None:
        """adlfs's client, with connection failures left to the flow's `retry:`."""
        super().do_connect()  # type: ignore[misc]
        bound_client(self.service_client)  # type: ignore[attr-defined]

    async def _hygge_bucket_exists(self, bucket: str) -> bool | None:
        from azure.core.exceptions import ResourceNotFoundError

        client = self.service_client.get_container_client(bucket)  # type: ignore[attr-defined]
        try:
            await client.get_container_properties()
        except ResourceNotFoundError:
            return False
        except Exception:
            return None
        return True

    async def _cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Server-side copy that returns only once the copy is complete.

        Azure may answer a copy with status "pending" and finish it later; adlfs returns
        at once. hygge deletes the source right after a copy, so it must wait: deleting a
        pending copy's source fails the copy and loses the file.
        """
        from azure.core.exceptions import ResourceNotFoundError

        container1, blob1, version = self.split_path(path1)  # type: ignore[attr-defined]
        container2, blob2, _ = self.split_path(path2)  # type: ignore[attr-defined]
        service = self.service_client  # type: ignore[attr-defined]
        source = service.get_container_client(container1).get_blob_client(blob=blob1)
        target = service.get_container_client(container2).get_blob_client(blob=blob2)
        url = source.url if version is None else f"{source.url}?versionid={version}"
        try:
            answer = await target.start_copy_from_url(url)
        except ResourceNotFoundError as exc:
            raise FileNotFoundError(errno.ENOENT, "no such blob", path1) from exc
        await wait_for_copy(target, answer.get("copy_status"), path1, path2)
        self.invalidate_cache(container1)  # type: ignore[attr-defined]
        self.invalidate_cache(container2)  # type: ignore[attr-defined]


def bound_client(client: Any) -> None:
    """Bound how long an unreachable account keeps a request waiting.

    The SDK retries a connection that cannot be opened three times, with backoffs of 15 s
    and more, inside every call; hygge then retried the whole attempt on top, so
    `retry: {attempts: 1}` still waited minutes. Here the SDK opens a connection once,
    within `CONNECT_TIMEOUT`, and the flow's `retry:` alone decides on another try. Its
    retries of throttling and 5xx answers stay. adlfs builds the client without passing
    options through, so the two settings are set on the client it made.
    """
    config = getattr(client, "_config", None)
    policy = getattr(config, "retry_policy", None)
    if policy is not None and hasattr(policy, "connect_retries"):
        policy.connect_retries = 0
    connection = getattr(getattr(config, "transport", None), "connection_config", None)
    if connection is not None and hasattr(connection, "timeout"):
        connection.timeout = CONNECT_TIMEOUT


async def wait_for_copy(target: Any, status: str | None, source: str, dest: str) -> None:
    """Poll `target` until its copy leaves "pending"; raise unless it ended in success."""
    delay, waited = 0.1, 0.0
    while status == "pending":
        if waited > COPY_TIMEOUT:
            raise TimeoutError(f"copy of {source} to {dest} still pending after {waited:.0f}s")
        await asyncio.sleep(delay)
        waited += delay
        delay = min(delay * 2, 5.0)
        status = (await target.get_blob_properties()).copy.status
    if status not in (None, "success"):
        raise OSError(errno.EIO, f"copy of {source} to {dest} ended '{status}'")


@functools.cache
def filesystem_class() -> type:
    """The guarded adlfs class (built on first use: adlfs is imported lazily)."""
    adlfs = need("adlfs", "azure")
    return guarded(adlfs.AzureBlobFileSystem, AzureRules, "abfs", _AzureOverrides, module=__name__)


def __getattr__(name: str) -> Any:
    # Pickle finds the guarded class by name here; it is built on first use.
    if name == "HyggeAzureBlobFileSystem":
        return filesystem_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class AzureStorage(CloudStorage):
    """`az://container/dir`, `abfs[s]://container/dir` and
    `abfss://container@account.dfs.core.windows.net/dir` paths."""

    name = "azure"
    protocols = ("az", "abfs", "abfss")
    connection_model = AzureConnection
    default_label = (
        "the default Azure credentials (AZURE_STORAGE_* variables or DefaultAzureCredential; "
        "or set a connection:)"
    )

    @classmethod
    def split_url(cls, protocol: str, rest: str) -> tuple[str, dict[str, Any]]:
        match = ACCOUNT_URL.match(rest)
        if match is None:
            return rest, {}
        path = f"{match['container']}/{match['path'] or ''}".rstrip("/")
        settings: dict[str, Any] = {"account_name": match["account"]}
        if match["suffix"] != PUBLIC_CLOUD:
            settings["account_host"] = f"{match['account']}.blob.{match['suffix']}"
        return path, settings

    @classmethod
    def filesystem(
        cls, protocol: str, connection: ConnectionConfig | None
    ) -> fsspec.AbstractFileSystem:
        kwargs: dict[str, Any] = {
            "use_listings_cache": False,  # other processes write here: never trust a stale list
            "hygge_label": cls.label(connection),
            "hygge_scheme": protocol,
        }
        if isinstance(connection, AzureConnection):
            fields = connection.model_dump(exclude={"type"}, exclude_none=True)
            if fields.pop("anonymous", False):
                kwargs["anon"] = True
            kwargs.update(fields)
        try:
            return filesystem_class()(**kwargs)
        except ValueError:
            # adlfs's message may quote the connection string: say what is wrong ourselves.
            if kwargs.get("connection_string"):
                raise CredentialsMissing(
                    f"the Azure connection string of {kwargs['hygge_label']} is malformed"
                ) from None
            raise CredentialsMissing(
                "no Azure storage account: set account_name (or connection_string) on a "
                "connection, set AZURE_STORAGE_ACCOUNT_NAME or AZURE_STORAGE_CONNECTION_STRING, "
                "or write abfss://container@ACCOUNT.dfs.core.windows.net/..."
            ) from None
