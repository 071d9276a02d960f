"""Registers the cloud storages with hygge (entry point `hygge.cloud`).

All three register whether or not their provider library is installed: a path whose
library is missing fails with the extra to install (`pip install 'hygge-cloud[s3]'`),
instead of as an unknown protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hygge_core import hookimpl

# Registered by path with their protocols: a storage module (and its fsspec backend) is
# imported only when a flow has a path of that protocol.


@hookimpl
def hygge_register_storage(register: Callable[..., Any]) -> None:
    register("hygge_cloud.s3:S3Storage", protocols=("s3", "s3a"))
    register("hygge_cloud.azure:AzureStorage", protocols=("az", "abfs", "abfss"))
    register("hygge_cloud.gcs:GCSStorage", protocols=("gs", "gcs"))
