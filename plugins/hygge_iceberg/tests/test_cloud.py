"""An Iceberg warehouse on an object store: the S3 emulator (moto) with a PostgreSQL catalog."""

from __future__ import annotations

import pathlib
import uuid

import pyarrow as pa
from pyiceberg.catalog import load_catalog

from hygge_core.testing import FlowHarness, need_env


def need(name: str) -> str:
    return need_env(name, hint="python3 scripts/services.py start")[0]


def test_round_trip_through_s3_with_a_postgresql_catalog(tmp_path: pathlib.Path) -> None:
    endpoint, url = need("HYGGE_TEST_S3_ENDPOINT"), need("HYGGE_TEST_PG_URL")
    import s3fs

    bucket = f"hygge-ice-{uuid.uuid4().hex[:10]}"
    s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint).mkdir(bucket)
    connection = {
        "type": "s3",
        "endpoint_url": endpoint,
        "key": "testing",
        "secret": "testing",
        "region": "us-east-1",
    }
    name = f"cat_{uuid.uuid4().hex[:8]}"
    catalog = {"uri": url, "warehouse": f"s3://{bucket}/wh", "name": name}
    harness = FlowHarness(tmp_path, connections={"lake": connection})
    source = pa.table(
        {"id": pa.array(range(1000), pa.int64()), "p": [f"k{i % 4}" for i in range(1000)]}
    )
    store = {
        "type": "iceberg",
        "table": "lake.t",
        "catalog": catalog,
        "connection": "lake",
        "partition_by": ["p"],
    }
    flows = {"f": {"home": harness.parquet_source(source, units=3), "store": store}}
    harness.run_ok(flows)
    harness.run_ok({"f": {**flows["f"], "store": {**store, "mode": "replace"}}})
    table = load_catalog(
        name,
        type="sql",
        uri=url,
        **{
            "s3.endpoint": endpoint,
            "s3.access-key-id": "testing",
            "s3.secret-access-key": "testing",
            "s3.region": "us-east-1",
        },
    ).load_table("lake.t")
    got = table.scan().to_arrow().sort_by("id")
    assert got["id"].to_pylist() == list(range(1000))
    files = [t.file.file_path for t in table.scan().plan_files()]
    assert files and all(f.startswith(f"s3://{bucket}/wh/") for f in files)
    out = tmp_path / "out"
    harness.run_ok(
        {
            "back": {
                "home": {
                    "type": "iceberg",
                    "table": "lake.t",
                    "catalog": catalog,
                    "connection": "lake",
                },
                "store": {"type": "parquet", "path": str(out)},
            }
        }
    )
    back = FlowHarness.read_parquet_dir(out).sort_by("id")
    assert back["id"].to_pylist() == list(range(1000))
