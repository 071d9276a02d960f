"""hygge-csv on S3 through hygge-cloud: the kit and a round trip, with no cloud code of ours.

Needs `HYGGE_TEST_S3_ENDPOINT` (moto, from `scripts/services.py start s3`) and hygge-cloud;
without them the tests skip, or fail when HYGGE_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import io
import os
import pathlib
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core.plugins import load_registry
from hygge_core.testing import FlowHarness, StoreContract, missing, sample_table, tables_equal

from .test_contract import columns_of, read_csv, read_jsonl

pytestmark = pytest.mark.services


def _need(condition: bool, message: str) -> None:
    if not condition:
        missing(message)


@pytest.fixture
def bucket() -> Any:
    """A fresh bucket on the S3 endpoint, and an s3fs filesystem to inspect it."""
    endpoint = os.environ.get("HYGGE_TEST_S3_ENDPOINT", "")
    _need(bool(endpoint), "HYGGE_TEST_S3_ENDPOINT not set: python3 scripts/services.py start s3")
    _need("s3" in load_registry().storages, "hygge-cloud is not installed (no s3:// storage)")
    import s3fs

    fs = s3fs.S3FileSystem(
        key="testing", secret="testing", endpoint_url=endpoint, use_listings_cache=False
    )
    name = f"hygge-csv-{uuid.uuid4().hex[:10]}"
    fs.mkdir(name)
    return fs, name, endpoint


def connection(endpoint: str) -> dict[str, Any]:
    return {
        "type": "s3",
        "endpoint_url": endpoint,
        "key": "testing",
        "secret": "testing",
        "region": "us-east-1",
    }


class _OnS3(StoreContract):
    """The kit against an S3 path, through a named connection."""

    reader = staticmethod(read_csv)

    @pytest.fixture(autouse=True)
    def _s3(self, bucket: Any) -> None:
        self.fs, self.bucket, endpoint = bucket
        type(self).connections = {"lake": connection(endpoint)}

    def read_back(self, store_config: dict[str, Any]) -> pa.Table:
        schema = self.sample(store_config, rows=0).schema
        key = store_config["path"].removeprefix("s3://")
        if not self.fs.exists(key):
            return schema.empty_table()
        files = [key] if self.fs.isfile(key) else sorted(self.fs.find(key))
        files = [f for f in files if not any(p.startswith(("_", ".")) for p in f.split("/")[1:])]
        tables = []
        for f in files:
            local = pathlib.Path(self.tmp) / pathlib.Path(f).name
            local.write_bytes(self.fs.cat_file(f))
            tables.append(self.reader(local, schema))
        return pa.concat_tables(tables) if tables else schema.empty_table()

    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path: pathlib.Path) -> None:
        self.tmp = tmp_path


class TestCsvStoreOnS3(_OnS3):
    @pytest.fixture
    def store_config(self, bucket: Any) -> dict[str, Any]:
        return {"type": "csv", "path": f"s3://{bucket[1]}/lake/users", "connection": "lake"}


class TestJsonlFileOnS3(_OnS3):
    reader = staticmethod(read_jsonl)

    @pytest.fixture
    def store_config(self, bucket: Any) -> dict[str, Any]:
        path = f"s3://{bucket[1]}/out/users.jsonl.gz"
        return {"type": "jsonl", "path": path, "connection": "lake"}


def test_csv_round_trip_through_s3(bucket: Any, tmp_path: pathlib.Path) -> None:
    fs, name, endpoint = bucket
    table = sample_table(3000, types={"int64", "string", "timestamp_tz", "decimal", "date"})
    harness = FlowHarness(tmp_path, connections={"lake": connection(endpoint)})
    url = f"s3://{name}/exports/users.csv.gz"
    store = {"type": "csv", "path": url, "connection": "lake"}
    harness.run_ok({"up": {"home": harness.parquet_source(table, units=3), "store": store}})
    assert fs.exists(f"{name}/exports/users.csv.gz")
    assert fs.exists(f"{name}/exports/_hygge/state/up.json")
    home = {"type": "csv", "path": url, "connection": "lake", "columns": columns_of(table.schema)}
    harness.run_ok({"down": {"home": home, "store": harness.parquet_sink()}})
    assert tables_equal(pq.read_table(tmp_path / "sink"), table)
    raw = io.BytesIO(fs.cat_file(f"{name}/exports/users.csv.gz"))
    assert raw.read(2) == b"\x1f\x8b"  # gzip, as the name says


def test_concurrent_flows_into_one_file_on_s3_keep_every_row(
    bucket: Any, tmp_path: pathlib.Path
) -> None:
    # On an object store the file's commits take turns under a lease object
    # (`_hygge/targets/<file>/`), waited for instead of failing the flow.
    fs, name, endpoint = bucket
    harness = FlowHarness(tmp_path, connections={"lake": connection(endpoint)})
    url = f"s3://{name}/out/shared.csv"
    tables, flows = [], {}
    for n in range(3):
        table = sample_table(2000, seed=n, types={"int64", "string"}, nulls=0.0)
        table = table.set_column(0, "id", pa.array(range(n * 10_000, n * 10_000 + 2000)))
        tables.append(table)
        home = harness.parquet_source(table, f"p{n}")
        flows[f"f{n}"] = {"home": home, "store": {"type": "csv", "path": url, "connection": "lake"}}
    harness.run_ok(flows)
    local = tmp_path / "shared.csv"
    local.write_bytes(fs.cat_file(f"{name}/out/shared.csv"))
    landed = read_csv(local, tables[0].schema)
    assert tables_equal(landed, pa.concat_tables(tables))
    assert not fs.find(f"{name}/out/_hygge/targets")  # every lease let go


def test_a_rewritten_object_has_another_content_id(bucket: Any) -> None:
    # What a unit's fingerprint carries on S3: same size, same key, other bytes → other ETag.
    from hygge_core import content_id

    fs, name, _ = bucket
    fs.pipe_file(f"{name}/in/a.csv", b"id\n1\n")
    first = content_id(fs, f"{name}/in/a.csv")
    fs.pipe_file(f"{name}/in/a.csv", b"id\n2\n")
    fs.invalidate_cache()
    second = content_id(fs, f"{name}/in/a.csv")
    assert first["size"] == second["size"] == "5"
    assert first != second
    assert "ETag" in first or "etag" in first
