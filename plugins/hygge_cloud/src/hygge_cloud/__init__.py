"""hygge-cloud: S3, Azure Blob / ADLS Gen2 and GCS paths for every hygge file plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hygge_core import lazy_exports

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


__getattr__ = lazy_exports(__name__, _EXPORTS)


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
