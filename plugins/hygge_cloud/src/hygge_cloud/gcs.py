"""Google Cloud Storage through gcsfs: `gs://` and `gcs://` paths."""

from __future__ import annotations

import functools
import json
import os
from typing import Any, Literal

import fsspec
from pydantic import Field, model_validator

from hygge_cloud.base import CloudStorage, need
from hygge_cloud.errors import LINE_LIMIT, CredentialsMissing, Fault
from hygge_cloud.guard import Rules, guarded
from hygge_core import ConnectionConfig, first_line


class GCSConnection(ConnectionConfig):
    """`connections: {NAME: {type: gcs, ...}}`: a Google Cloud Storage project.

    Without `credentials_file`, `credentials_json` or `anonymous`, Application Default
    Credentials apply (GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default
    login`, the metadata server on Google Cloud).
    """

    type: Literal["gcs"] = "gcs"
    project: str | None = Field(default=None, description="project id (billing, listings)")
    credentials_file: str | None = Field(
        default=None, description="path of a service-account or authorized-user JSON key"
    )
    credentials_json: str | None = Field(
        default=None, description="the same JSON key inline, e.g. ${GCP_SERVICE_ACCOUNT_JSON}"
    )
    endpoint_url: str | None = Field(
        default=None, description="another endpoint, e.g. an emulator at http://127.0.0.1:4443"
    )
    anonymous: bool = Field(default=False, description="unsigned requests (public buckets)")
    requester_pays: bool = Field(default=False, description="bill requests to `project`")

    @model_validator(mode="after")
    def _one_way_to_sign(self) -> GCSConnection:
        ways = [self.credentials_file, self.credentials_json, self.anonymous or None]
        if sum(w is not None for w in ways) > 1:
            raise ValueError("give one of credentials_file, credentials_json or anonymous: true")
        return self


class GCSRules(Rules):
    """What gcsfs and google-auth exceptions mean."""

    service = "Google Cloud Storage"

    @staticmethod
    def classify(exc: BaseException) -> Fault | None:
        import google.auth.exceptions as gax
        from gcsfs.retry import HttpError

        if isinstance(exc, gax.DefaultCredentialsError):
            return Fault(
                "no_credentials",
                "set credentials_file or credentials_json on a connection, set "
                "GOOGLE_APPLICATION_CREDENTIALS, or run gcloud auth application-default login",
            )
        if isinstance(exc, gax.RefreshError):
            return Fault("rejected", first_line(exc, LINE_LIMIT))
        if isinstance(exc, HttpError):
            code = exc.code or 0
            detail = f"{code}: {first_line(exc.message or exc, LINE_LIMIT)}"
            if code == 401:
                return Fault("rejected", detail)
            if code == 403:
                return Fault("denied", detail)
            if code in (408, 429) or code >= 500:
                return Fault("transient", detail)
            return None
        text = str(exc)
        if isinstance(exc, OSError) and text.startswith("Forbidden"):
            # gcsfs raises 403s as OSError("Forbidden: <path>\n<message>").
            lines = text.splitlines()
            return Fault(
                "denied", "403: " + first_line(lines[1] if len(lines) > 1 else text, LINE_LIMIT)
            )
        try:
            import requests
        except ImportError:  # pragma: no cover - gcsfs depends on requests
            return None
        if isinstance(exc, requests.exceptions.ProxyError):  # how gcsfs reports a 502
            return Fault("transient", "502 Bad Gateway")
        return None


class _GCSOverrides:
    """GCS-only behaviour of the guarded filesystem."""

    async def _hygge_bucket_exists(self, bucket: str) -> bool | None:
        try:
            await self._call("GET", "b/{}", bucket, json_out=True)  # type: ignore[attr-defined]
        except FileNotFoundError:
            return False
        except Exception:
            return None
        return True


@functools.cache
def filesystem_class() -> type:
    """The guarded gcsfs class (built on first use: gcsfs is imported lazily)."""
    # gcsfs probes zonal/HNS buckets over gRPC unless told not to: against an emulator, or
    # without gRPC egress, every call then stalls for a minute.
    os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    gcsfs = need("gcsfs", "gcs")
    return guarded(gcsfs.GCSFileSystem, GCSRules, "gs", _GCSOverrides, module=__name__)


def __getattr__(name: str) -> Any:
    # Pickle finds the guarded class by name here; it is built on first use.
    if name == "HyggeGCSFileSystem":
        return filesystem_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _token(connection: GCSConnection | None) -> Any:
    """What gcsfs calls `token`: how requests are signed."""
    if connection is not None:
        if connection.anonymous:
            return "anon"
        if connection.credentials_file is not None:
            path = os.path.expanduser(connection.credentials_file)
            if not os.path.isfile(path):
                raise CredentialsMissing(
                    f"the credentials_file of connection '{connection.connection_name}' "
                    "does not exist"
                )
            return path
        if connection.credentials_json is not None:
            try:
                return json.loads(connection.credentials_json)
            except ValueError:
                raise CredentialsMissing(
                    f"the credentials_json of connection '{connection.connection_name}' is not JSON"
                ) from None
    # Google's own clients go anonymous when pointed at an emulator; so does hygge.
    if os.environ.get("STORAGE_EMULATOR_HOST") or (connection and connection.endpoint_url):
        return "anon"
    return "google_default"


class GCSStorage(CloudStorage):
    """`gs://bucket/key` (and `gcs://`) paths."""

    name = "gcs"
    protocols = ("gs", "gcs")
    connection_model = GCSConnection
    default_label = (
        "the default Google credentials (Application Default Credentials; or set a connection:)"
    )

    @classmethod
    def filesystem(
        cls, protocol: str, connection: ConnectionConfig | None
    ) -> fsspec.AbstractFileSystem:
        conn = connection if isinstance(connection, GCSConnection) else None
        kwargs: dict[str, Any] = {
            "use_listings_cache": False,  # other processes write here: never trust a stale list
            "hygge_label": cls.label(connection),
            "hygge_scheme": protocol,
            "token": _token(conn),
        }
        if conn is not None:
            if conn.project:
                kwargs["project"] = conn.project
            if conn.endpoint_url:
                kwargs["endpoint_url"] = conn.endpoint_url
            if conn.requester_pays:
                kwargs["requester_pays"] = True
        fs_class = filesystem_class()
        try:
            return fs_class(**kwargs)
        except Exception as exc:
            fault = GCSRules.classify(exc)
            if fault is not None and fault.kind == "no_credentials":
                raise CredentialsMissing(
                    f"no Google Cloud Storage credentials found ({fault.detail})"
                ) from None
            raise CredentialsMissing(
                f"the Google credentials of {kwargs['hygge_label']} cannot be used: not a "
                f"service-account or authorized-user key ({type(exc).__name__})"
            ) from None
