"""Delta tables on object stores, through named connections: the S3 emulator (moto) and
Azure Blob Storage (Azurite). The Azure tests run the modes and kills the local suite runs,
because delta-rs commits there through its own Azure client, not hygge's."""

from __future__ import annotations

import json
import os
import pathlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from hygge_core.testing import FlowHarness, Kill, every_type_table, need_env, run_hygge


@dataclass
class Cloud:
    """A fresh bucket or container: the URL prefix of its tables, the flows.yaml connection,
    delta-rs's options to inspect a table independently, and an fsspec filesystem."""

    prefix: str
    connection: dict[str, Any]
    options: dict[str, str]
    fs: Any

    def table(self, url: str) -> DeltaTable:
        return DeltaTable(url, storage_options=self.options)


def s3_cloud() -> Cloud:
    (endpoint,) = need_env("HYGGE_TEST_S3_ENDPOINT", hint="python3 scripts/services.py start s3")
    import s3fs

    fs = s3fs.S3FileSystem(
        key="testing", secret="testing", endpoint_url=endpoint, use_listings_cache=False
    )
    name = f"hygge-delta-{uuid.uuid4().hex[:10]}"
    fs.mkdir(name)
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
    return Cloud(f"s3://{name}", connection, options, fs)


def azure_cloud() -> Cloud:
    (conn_str,) = need_env(
        "HYGGE_TEST_AZURE_CONNECTION_STRING", hint="python3 scripts/services.py start azure"
    )
    import adlfs

    fs = adlfs.AzureBlobFileSystem(connection_string=conn_str, use_listings_cache=False)
    container = f"hygge-delta-{uuid.uuid4().hex[:10]}"
    fs.mkdir(container)
    parts = dict(p.split("=", 1) for p in conn_str.split(";") if "=" in p)
    # Written out by hand, not by hygge-delta's own translation, so a wrong translation
    # cannot pass unnoticed.
    options = {
        "azure_storage_account_name": parts["AccountName"],
        "azure_storage_account_key": parts["AccountKey"],
        "azure_storage_endpoint": parts["BlobEndpoint"].rstrip("/"),
        "azure_allow_http": "true",
    }
    connection = {"type": "azure", "connection_string": conn_str}
    return Cloud(f"az://{container}", connection, options, fs)


MAKERS = {"s3": s3_cloud, "azure": azure_cloud}


@pytest.fixture(params=list(MAKERS))
def cloud(request: pytest.FixtureRequest) -> Iterator[Cloud]:
    """Each object store in turn, with a fresh bucket or container."""
    made = MAKERS[request.param]()
    yield made
    made.fs.rm(made.prefix.split("://", 1)[1], recursive=True)


@pytest.fixture
def azure() -> Iterator[Cloud]:
    """Azurite alone, with a fresh container."""
    made = azure_cloud()
    yield made
    made.fs.rm(made.prefix.split("://", 1)[1], recursive=True)


def rows(ids: range, *, v: float = 1.0) -> pa.Table:
    ids = list(ids)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "p": [f"p{i % 4}" for i in ids],
            "v": pa.array([v * i for i in ids], pa.float64()),
        }
    )


def hygge_commits(table: DeltaTable, flow: str) -> list[dict[str, Any]]:
    return [e for e in table.history() if e.get("hygge.flow") == flow]


def test_round_trip_through_s3(tmp_path: pathlib.Path) -> None:
    cloud = s3_cloud()
    harness = FlowHarness(tmp_path, connections={"lake": cloud.connection})
    source = pa.table(
        {"id": pa.array(range(1000), pa.int64()), "p": [f"k{i % 4}" for i in range(1000)]}
    )
    url = f"{cloud.prefix}/lake/t"
    store = {"type": "delta", "path": url, "connection": "lake", "partition_by": ["p"]}
    flows = {"f": {"home": harness.parquet_source(source, units=3), "store": store}}
    harness.run_ok(flows)
    harness.run_ok({"f": {**flows["f"], "store": {**store, "mode": "replace"}}})
    table = cloud.table(url)
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


def test_every_type_round_trips_parquet_delta_parquet(cloud: Cloud, tmp_path: pathlib.Path) -> None:
    harness = FlowHarness(tmp_path, connections={"lake": cloud.connection})
    source = every_type_table()
    url = f"{cloud.prefix}/lake/types"
    store = {"type": "delta", "path": url, "connection": "lake"}
    harness.run_ok({"to": {"home": harness.parquet_source(source), "store": store}})
    # delta-rs, given its own options (not hygge's), reads what hygge committed.
    table = cloud.table(url)
    assert table.to_pyarrow_table().to_pylist() == source.to_pylist()
    assert table.transaction_version("hygge:to") == 1
    out = tmp_path / "out"
    harness.run_ok(
        {
            "back": {
                "home": {"type": "delta", "path": url, "connection": "lake"},
                "store": {"type": "parquet", "path": str(out)},
            }
        }
    )
    back = FlowHarness.read_parquet_dir(out)
    assert back.schema.equals(source.schema), f"{back.schema} != {source.schema}"
    assert back.to_pylist() == source.to_pylist()


def test_append_and_merge_runs_on_azure(azure: Cloud, tmp_path: pathlib.Path) -> None:
    harness = FlowHarness(tmp_path, connections={"blob": azure.connection})
    url = f"{azure.prefix}/lake/orders"
    store = {"type": "delta", "path": url, "connection": "blob", "partition_by": ["p"]}

    def run(source: pa.Table, name: str, **extra: Any) -> None:
        home = harness.parquet_source(source, name, units=3)
        harness.run_ok({"orders": {"home": home, "store": {**store, **extra}}})

    run(rows(range(0, 300)), "a", mode="append")
    run(rows(range(300, 400)), "b", mode="append")
    got = azure.table(url).to_pyarrow_table().select(["id", "p", "v"]).sort_by("id")
    assert got.equals(rows(range(0, 400)))
    changed = rows(range(350, 450), v=2.0)  # 50 updates, 50 inserts in one run
    run(changed, "c", mode="merge", keys=["id"])
    table = azure.table(url)
    expected = pa.concat_tables([rows(range(0, 350)), changed])
    assert table.to_pyarrow_table().select(["id", "p", "v"]).sort_by("id").equals(expected)
    # One log entry per run, numbered by the flow's transaction.
    assert [c["hygge.txn"] for c in hygge_commits(table, "orders")] == [3, 2, 1]
    assert table.transaction_version("hygge:orders") == 3


@pytest.mark.parametrize(
    ("mode", "point"),
    [
        ("append", "unit.staged"),  # data files written, nothing committed
        ("append", "commit.logged"),  # the log entry landed, the bookkeeping did not
        ("append", "commit.cached"),
        ("merge", "commit.logged"),
        ("merge", "commit.done"),
    ],
)
def test_a_kill_at_the_commit_then_rerun_is_exactly_once_on_azure(
    azure: Cloud, tmp_path: pathlib.Path, mode: str, point: str
) -> None:
    harness = FlowHarness(tmp_path, connections={"blob": azure.connection})
    url = f"{azure.prefix}/lake/{mode}"
    src = tmp_path / "src.parquet"
    pq.write_table(rows(range(0, 600)), src, row_group_size=200)
    home: dict[str, Any] = {"type": "parquet", "path": str(src), "unit_rows": 200}
    store: dict[str, Any] = {
        "type": "delta",
        "path": url,
        "connection": "blob",
        "mode": mode,
        "partition_by": ["p"],
    }
    if mode == "append":
        home["incremental"] = {"cursor": "id"}  # append is exactly-once with a cursor
    else:
        store["keys"] = ["id"]
    flows = {"f": {"home": home, "store": store}}
    killed = run_hygge("run", str(harness.write(flows)), kill=Kill(point=point), timeout=300)
    assert killed.returncode == -9, f"{point} was not reached:\n{killed.stdout}{killed.stderr}"
    [rerun] = harness.run_ok(flows)
    landed = point != "unit.staged"
    if mode == "append":
        assert rerun.rows == (0 if landed else 600)  # the state committed with the data
    table = azure.table(url)
    got = table.to_pyarrow_table().select(["id", "p", "v"]).sort_by("id")
    assert got.equals(rows(range(0, 600))), f"killed at {point}: {got.num_rows} rows"
    commits = hygge_commits(table, "f")
    runs = [c["hygge.run_id"] for c in commits]
    assert len(runs) == len(set(runs)), f"killed at {point}: a run committed twice"
    # One entry per run whose commit landed: the killed run's (when it did) and the rerun's.
    assert len(commits) == 1 + landed
    root = url.split("://", 1)[1]
    files = {p for p in azure.fs.find(root) if pathlib.PurePosixPath(p).name.startswith("hygge-")}
    ever = {f"{root}/{p}" for p in _ever_added(azure, root)}
    assert files <= ever, f"killed at {point}: orphaned {sorted(files - ever)[:3]}"
    # Append publishes hygge's own files; merge's rows land through Delta's MERGE instead.
    assert bool(files) == (mode == "append")
    left = [p for p in azure.fs.find(f"{root}/_hygge") if "/runs/" in p]
    assert not left, f"killed at {point}: run markers left {left}"
    assert not azure.fs.find(f"{root}/_hygge_staging"), f"killed at {point}: staging left"


def _ever_added(cloud: Cloud, root: str) -> set[str]:
    """Every data file any commit of the log added, read from the log's JSON entries."""
    added = set()
    for entry in sorted(cloud.fs.glob(f"{root}/_delta_log/*.json")):
        for line in cloud.fs.cat_file(entry).decode().splitlines():
            action = json.loads(line)
            if "add" in action:
                added.add(unquote(action["add"]["path"]))
    return added


class _Context:
    """Just what `locate` asks of a FlowContext: the named connections."""

    def __init__(self, **connections: dict[str, Any]) -> None:
        self.connections = connections

    def connection(self, name: str) -> dict[str, Any]:
        return self.connections[name]


AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/;"
)


@pytest.mark.parametrize(
    ("path", "connection", "uri", "options"),
    [
        (
            "az://c/t",
            {"type": "azure", "connection_string": AZURITE},
            "az://c/t",
            {
                "AZURE_STORAGE_ACCOUNT_NAME": "devstoreaccount1",
                "AZURE_STORAGE_ACCOUNT_KEY": "a2V5",
                "AZURE_STORAGE_USE_EMULATOR": "true",
            },
        ),
        (
            "az://c/t",
            {"type": "azure", "connection_string": AZURITE.replace("/devstoreaccount1/;", ";")},
            "az://c/t",
            {
                "AZURE_STORAGE_ACCOUNT_NAME": "devstoreaccount1",
                "AZURE_STORAGE_ACCOUNT_KEY": "a2V5",
                "AZURE_STORAGE_ENDPOINT": "http://127.0.0.1:10000",
                "AZURE_ALLOW_HTTP": "true",
            },
        ),
        (
            "abfss://c@acct.dfs.core.windows.net/t",
            {"type": "azure", "account_name": "acct", "account_key": "a2V5"},
            "abfss://c@acct.dfs.core.windows.net/t",
            {"AZURE_STORAGE_ACCOUNT_NAME": "acct", "AZURE_STORAGE_ACCOUNT_KEY": "a2V5"},
        ),
        (
            "az://c/t",
            {"type": "azure", "account_name": "acct", "account_host": "acct.blob.core.cn"},
            "az://c/t",
            {
                "AZURE_STORAGE_ACCOUNT_NAME": "acct",
                "AZURE_STORAGE_ENDPOINT": "https://acct.blob.core.cn",
            },
        ),
        (
            "az://c/t",
            {
                "type": "azure",
                "connection_string": "AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.cn",
            },
            "az://c/t",
            {
                "AZURE_STORAGE_ACCOUNT_NAME": "acct",
                "AZURE_STORAGE_ACCOUNT_KEY": "a2V5",
                "AZURE_STORAGE_ENDPOINT": "https://acct.blob.core.cn",
            },
        ),
        (
            "az://c/t",
            {"type": "azure", "connection_string": "UseDevelopmentStorage=true"},
            "az://c/t",
            {"AZURE_STORAGE_USE_EMULATOR": "true"},
        ),
    ],
)
def test_azure_connections_become_delta_rs_options(
    path: str,
    connection: dict[str, Any],
    uri: str,
    options: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hygge_delta.location import locate

    monkeypatch.delenv("AZURITE_BLOB_STORAGE_URL", raising=False)
    location = locate(_Context(blob=connection), path, "blob")  # type: ignore[arg-type]
    assert (location.uri, location.options) == (uri, options)
    # Azurite's path-style endpoint: delta-rs's emulator mode, pointed at its address.
    emulator = "AZURE_STORAGE_USE_EMULATOR" in options and "Development" not in str(connection)
    assert os.environ.get("AZURITE_BLOB_STORAGE_URL") == (
        "http://127.0.0.1:10000" if emulator else None
    )


def test_gcs_tables_are_refused_naming_what_works() -> None:
    from hygge_delta.location import locate

    from hygge_core import PermanentError

    with pytest.raises(PermanentError) as caught:
        locate(_Context(), "gs://b/t", None)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "Delta tables on 'gs://' paths are not supported by hygge-delta; "
        "use a local folder, s3:// or az://"
    )
