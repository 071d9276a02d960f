"""hygge-cloud: S3, Azure Blob / ADLS Gen2 and GCS paths for every hygge file plugin."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hygge_cloud.azure import AzureConnection, AzureStorage
    from hygge_cloud.errors import (
        AccessDenied,
        BucketNotFound,
        CloudUnavailable,
        CredentialsMissing,
        CredentialsRejected,
    )
    from hygge_cloud.gcs import GCSConnection, GCSStorage
    from hygge_cloud.s3 import S3Connection, S3Storage

__version__ = "0.1.0"

# Imported on first use (PEP 562): hygge loads this package for every run, and a run
# without cloud paths should not pay for the storage modules.
_EXPORTS = {
    "AccessDenied": "hygge_cloud.errors",
    "BucketNotFound": "hygge_cloud.errors",
    "CloudUnavailable": "hygge_cloud.errors",
    "CredentialsMissing": "hygge_cloud.errors",
    "CredentialsRejected": "hygge_cloud.errors",
    "AzureConnection": "hygge_cloud.azure",
    "AzureStorage": "hygge_cloud.azure",
    "GCSConnection": "hygge_cloud.gcs",
    "GCSStorage": "hygge_cloud.gcs",
    "S3Connection": "hygge_cloud.s3",
    "S3Storage": "hygge_cloud.s3",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hygge_cloud' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "AccessDenied",
    "AzureConnection",
    "AzureStorage",
    "BucketNotFound",
    "CloudUnavailable",
    "CredentialsMissing",
    "CredentialsRejected",
    "GCSConnection",
    "GCSStorage",
    "S3Connection",
    "S3Storage",
    "__version__",
]
