"""Amazon S3 and S3-compatible stores (MinIO, Cloudflare R2, Ceph, moto) through s3fs."""

from __future__ import annotations

import functools
import os
from typing import Any, Literal

import fsspec
from pydantic import Field, model_validator

from hygge_cloud.base import CloudStorage, need
from hygge_cloud.errors import LINE_LIMIT, Fault
from hygge_cloud.guard import Rules, guarded
from hygge_core import ConnectionConfig, first_line

# Error codes that mean "these credentials are not accepted", as opposed to "accepted,
# but not allowed to do this".
REJECTED = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "InvalidClientTokenId",
        "AuthorizationHeaderMalformed",
    }
)
DENIED = frozenset({"AccessDenied", "AllAccessDisabled", "AccountProblem", "403"})
# Worth another try later: S3 asks clients to slow down, or had a bad moment.
BUSY = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
    }
)
# botocore retries throttling, 5xx and dropped connections itself, with exponential
# backoff and jitter ("standard" mode); only what survives reaches hygge, whose runner then
# retries the flow attempt. AWS_RETRY_MODE and AWS_MAX_ATTEMPTS tune it, as for any AWS tool.
DEFAULT_RETRY_MODE = "standard"
DEFAULT_MAX_ATTEMPTS = 5
# Connections per filesystem: hygge fetches footers on 16 threads and runs units in
# parallel; botocore's default of 10 would queue them.
POOL = 64
# Multipart part size, and the most an open file buffers (s3fs's default is 50 MiB): every
# unit writing at once holds one, so it is what bounds memory beside the flow's budget.
BLOCK_SIZE = 16 * 2**20
# Read-ahead window of a file open for reading. pyarrow asks for exact ranges (a Parquet
# column chunk), so a large window only adds copies: reading 8 row groups of 32 MB peaked
# at 364 MB with 16 MiB, 257 MB with 4 MiB (179 MB with none, but then streaming readers
# such as CSV would send one request per small read).
READ_BLOCK_SIZE = 4 * 2**20


class S3Connection(ConnectionConfig):
    """`connections: {NAME: {type: s3, ...}}`: how to reach S3 or an S3-compatible store.

    Every field is optional: without `key`/`secret`/`profile`, boto's default chain applies
    (environment variables, `~/.aws` profiles, SSO, web identity, the instance role).
    """

    type: Literal["s3"] = "s3"
    key: str | None = Field(default=None, description="access key id")
    secret: str | None = Field(default=None, description="secret access key")
    session_token: str | None = Field(
        default=None, description="session token of temporary credentials"
    )
    profile: str | None = Field(default=None, description="a profile of ~/.aws/config")
    region: str | None = Field(default=None, description="region, e.g. eu-west-1")
    endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint, e.g. http://minio:9000"
    )
    anonymous: bool = Field(default=False, description="unsigned requests (public buckets)")
    requester_pays: bool = Field(default=False, description="pay for requests to the bucket")

    @model_validator(mode="after")
    def _one_way_to_sign(self) -> S3Connection:
        if (self.key is None) != (self.secret is None):
            raise ValueError("key and secret go together: set both or neither")
        if self.profile and self.key:
            raise ValueError("set either profile or key/secret, not both")
        if self.anonymous and (self.key or self.profile):
            raise ValueError("anonymous: true cannot be combined with key or profile")
        return self


class S3Rules(Rules):
    """What s3fs/botocore exceptions mean."""

    service = "S3"

    @staticmethod
    def classify(exc: BaseException) -> Fault | None:
        import botocore.exceptions as bx

        if isinstance(exc, bx.NoCredentialsError):
            return Fault(
                "no_credentials",
                "set key and secret on a connection, or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with an instance role",
            )
        if isinstance(exc, bx.PartialCredentialsError | bx.ProfileNotFound):
            return Fault("no_credentials", first_line(exc, LINE_LIMIT))
        if isinstance(
            exc,
            bx.EndpointConnectionError
            | bx.ConnectTimeoutError
            | bx.ReadTimeoutError
            | bx.ConnectionClosedError,
        ):
            return Fault("transient", first_line(exc, LINE_LIMIT))
        if not isinstance(exc, bx.ClientError):
            return None
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        message = first_line(error.get("Message") or "", LINE_LIMIT)
        if code == "NoSuchBucket":
            return Fault("missing_bucket", "")
        if code in REJECTED:
            return Fault("rejected", f"{code}: {message}" if message else code)
        if code in DENIED or status == 403:
            if code == "403":  # HEAD requests carry no body: S3 cannot say more
                return Fault("denied", "403 Forbidden: wrong credentials or no permission")
            return Fault("denied", f"{code}: {message}" if message else code)
        if code in BUSY or status == 429 or status >= 500:
            return Fault("transient", f"{code or status}: {message}" if message else str(code))
        return None


class _S3Overrides:
    """S3-only behaviour of the guarded filesystem."""

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None, **kwargs: Any):
        if "r" in mode and not block_size:
            block_size = READ_BLOCK_SIZE
        return super()._open(path, mode, block_size=block_size, **kwargs)  # type: ignore[misc]

    async def _hygge_bucket_exists(self, bucket: str) -> bool | None:
        try:
            await self._call_s3("head_bucket", Bucket=bucket)  # type: ignore[attr-defined]
        except FileNotFoundError:
            return False
        except Exception:
            return None
        return True


@functools.cache
def filesystem_class() -> type:
    """The guarded s3fs class (built on first use: s3fs is imported lazily)."""
    s3fs = need("s3fs", "s3")
    return guarded(s3fs.S3FileSystem, S3Rules, "s3", _S3Overrides, module=__name__)


def __getattr__(name: str) -> Any:
    # Pickle finds the guarded class by name here; it is built on first use.
    if name == "HyggeS3FileSystem":
        return filesystem_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class S3Storage(CloudStorage):
    """`s3://bucket/key` and `s3a://` paths, on AWS or any S3-compatible endpoint."""

    name = "s3"
    protocols = ("s3", "s3a")
    connection_model = S3Connection
    default_label = (
        "the default AWS credentials (environment, profile, or instance role; or set a connection:)"
    )

    @classmethod
    def filesystem(
        cls, protocol: str, connection: ConnectionConfig | None
    ) -> fsspec.AbstractFileSystem:
        retries = {
            "mode": os.environ.get("AWS_RETRY_MODE", DEFAULT_RETRY_MODE),
            "total_max_attempts": int(os.environ.get("AWS_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)),
        }
        config: dict[str, Any] = {"retries": retries, "max_pool_connections": POOL}
        kwargs: dict[str, Any] = {
            "use_listings_cache": False,  # other processes write here: never trust a stale list
            "config_kwargs": config,
            "default_block_size": BLOCK_SIZE,
            "hygge_label": cls.label(connection),
            "hygge_scheme": protocol,
        }
        if isinstance(connection, S3Connection):
            c = connection
            if c.anonymous:
                kwargs["anon"] = True
            if c.key is not None:
                kwargs.update(key=c.key, secret=c.secret)
            if c.session_token is not None:
                kwargs["token"] = c.session_token
            if c.profile:
                kwargs["profile"] = c.profile
            if c.endpoint_url:
                kwargs["endpoint_url"] = c.endpoint_url
            if c.region:
                kwargs["client_kwargs"] = {"region_name": c.region}
            if c.requester_pays:
                kwargs["requester_pays"] = True
        return filesystem_class()(**kwargs)
