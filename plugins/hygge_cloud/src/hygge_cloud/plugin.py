"""Registers the cloud storages with hygge (entry point `hygge.cloud`).

All three register whether or not their provider library is installed: a path whose
library is missing fails with the extra to install (`pip install 'hygge-cloud[s3]'`),
instead of as an unknown protocol.
"""

from __future__ import annotations

from collections.abc import Callable

from hygge_cloud.azure import AzureStorage
from hygge_cloud.gcs import GCSStorage
from hygge_cloud.s3 import S3Storage
from hygge_core import hookimpl


@hookimpl
def hygge_register_storage(register: Callable[[type], None]) -> None:
    register(S3Storage)
    register(AzureStorage)
    register(GCSStorage)
