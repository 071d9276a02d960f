"""hygge-cloud: S3, Azure Blob / ADLS Gen2 and GCS paths for every hygge file plugin."""

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
