"""What cloud faults mean to hygge: permanent (fix the config) or transient (retry).

Each provider module classifies its own client's exceptions into a `Fault`; `raise_fault`
turns that into one of the errors below, with a one-line message that names the URL and
where the credentials came from — never their values. Every error keeps the built-in
family the provider raised (`PermissionError`, `ConnectionError`), so code that catches
those (fsspec, pyarrow) still does, while hygge's runner sees `PermanentError` (fail fast)
or `TransientError` (retry the attempt with backoff).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hygge_core import PermanentError, TransientError

# Provider messages are cut to this many characters: enough to recognise, not a dump.
LINE_LIMIT = 160

Kind = Literal[
    "denied", "rejected", "no_credentials", "missing_bucket", "unresolvable", "transient"
]


class AccessDenied(PermanentError, PermissionError):
    """The credentials work but may not do this (read, write or list here)."""


class CredentialsRejected(AccessDenied):
    """The service does not accept the credentials (unknown key, bad signature, expired)."""


class CredentialsMissing(PermanentError):
    """No credentials were configured and the provider's default chain found none."""


class BucketNotFound(PermanentError):
    """The bucket or container in the URL does not exist.

    Deliberately not a `FileNotFoundError`: callers that treat a missing file as "empty"
    must not treat a missing bucket that way.
    """


class HostNotFound(PermanentError, ConnectionError):
    """The service's host name does not resolve: a misspelt account or endpoint, or no DNS.

    Permanent: retrying a name that does not exist only delays the message.
    """


class CloudUnavailable(TransientError, ConnectionError):
    """Throttling, a 5xx or a dropped connection that survived the client's own retries."""


@dataclass(frozen=True)
class Fault:
    """A provider exception, classified: what kind of fault, and a short secret-free detail."""

    kind: Kind
    detail: str


def to_error(fault: Fault, url: str, label: str, service: str) -> Exception:
    """The hygge error for `fault` at `url`; `label` says where credentials came from."""
    detail = f" ({fault.detail})" if fault.detail else ""
    if fault.kind == "rejected":
        return CredentialsRejected(
            f"{url}: {service} rejected the credentials{detail}; check {label}"
        )
    if fault.kind == "denied":
        return AccessDenied(f"{url}: access denied{detail}; check the permissions of {label}")
    if fault.kind == "no_credentials":
        return CredentialsMissing(f"{url}: no {service} credentials found{detail}")
    if fault.kind == "missing_bucket":
        return BucketNotFound(
            f"{url}: {fault.detail or 'the bucket does not exist'}; hygge never creates "
            "buckets or containers: create it, or fix the path"
        )
    if fault.kind == "unresolvable":
        return HostNotFound(
            f"{url}: cannot resolve the host of {service}{detail}; check the account or "
            f"endpoint name in {label}, and that this machine can resolve it"
        )
    return CloudUnavailable(f"{url}: {service} is unavailable or throttling{detail}")
