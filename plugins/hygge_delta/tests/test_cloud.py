"""Delta tables on an object store: the S3 emulator (moto), through a named connection."""

from __future__ import annotations

import pathlib
import uuid
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from hygge_core.testing import FlowHarness, need_env


@pytest.fixture
def s3() -> tuple[str, dict[str, Any], dict[str, str]]:
    """A fresh bucket: its name, the flows.yaml connection, delta-rs's options to inspect it."""
    (endpoint,) = need_env("HYGGE_TEST_S3_ENDPOINT", hint="python3 scripts/services.py start s3")
    import s3fs

    name = f"hygge-delta-{uuid.uuid4().hex[:10]}"
    s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint).mkdir(name)
    connection = {
        "type": "s3",
        "endpoint_url": endpoint,
        "key": "testing",
        "secret": "testing",
        "region": "us-east-1",
    }
    options = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        "conditional_put": "etag",
    }
    return name, connection, options


def test_round_trip_through_s3(s3: Any, tmp_path: pathlib.Path) -> None:
    bucket, connection, options = s3
    harness = FlowHarness(tmp_path, connections={"lake": connection})
    source = pa.table(
        {"id": pa.array(range(1000), pa.int64()), "p": [f"k{i % 4}" for i in range(1000)]}
    )
    url = f"s3://{bucket}/lake/t"
    store = {"type": "delta", "path": url, "connection": "lake", "partition_by": ["p"]}
    flows = {"f": {"home": harness.parquet_source(source, units=3), "store": store}}
    harness.run_ok(flows)
    harness.run_ok({"f": {**flows["f"], "store": {**store, "mode": "replace"}}})
    table = DeltaTable(url, storage_options=options)
    assert table.to_pyarrow_table().sort_by("id").select(["id", "p"]).equals(source)
    assert table.transaction_version("hygge:f") == 2
    # And back out through the Delta home.
    out = tmp_path / "out"
    harness.run_ok(
        {
            "back": {
                "home": {"type": "delta", "path": url, "connection": "lake"},
                "store": {"type": "parquet", "path": str(out)},
            }
        }
    )
    assert FlowHarness.read_parquet_dir(out).sort_by("id").select(["id", "p"]).equals(source)
