"""Smoke tests: each real service started by ``scripts/services.py`` really answers.

They read the ``HYGGE_TEST_*`` variables that ``scripts/services.py start`` writes to
``$HYGGE_SERVICES_DIR/services.env``. A missing variable or client library skips the test,
unless ``HYGGE_REQUIRE_SERVICES=1`` (CI), where it fails: a suite that silently skipped every
service test would prove nothing.
"""

from __future__ import annotations

import os
import urllib.request
import uuid
from urllib.parse import urlsplit

import pytest

from hygge_core.testing import need_env, need_module

pytestmark = pytest.mark.services

PAYLOAD = b"hygge smoke\n"


def unique(prefix: str) -> str:
    """A bucket or container name no other test run uses (lower case, as S3/Azure want)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_postgres_answers() -> None:
    """SQLAlchemy (psycopg 3) and plain psycopg both reach the hygge_test database."""
    url, dsn = need_env("HYGGE_TEST_PG_URL", "HYGGE_TEST_PG_DSN")
    sqlalchemy = need_module("sqlalchemy")
    psycopg = need_module("psycopg")
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("select 1")).scalar() == 1
            assert conn.execute(sqlalchemy.text("select current_database()")).scalar() == (
                "hygge_test"
            )
    finally:
        engine.dispose()
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_mariadb_answers() -> None:
    """pymysql reaches the hygge_test database as root over TCP."""
    (url,) = need_env("HYGGE_TEST_MYSQL_URL")
    pymysql = need_module("pymysql")
    parts = urlsplit(url)
    conn = pymysql.connect(
        host=parts.hostname,
        port=parts.port,
        user=parts.username,
        database=parts.path.lstrip("/"),
        connect_timeout=5,
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute("select 1, database()")
            assert cursor.fetchone() == (1, "hygge_test")
    finally:
        conn.close()


def test_s3_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """s3fs makes a bucket, writes, lists and reads back on moto."""
    (endpoint,) = need_env("HYGGE_TEST_S3_ENDPOINT")
    # Per use, not global; the region must come from the environment (through client_kwargs,
    # moto rejects bucket creation with "location-constraint is not valid").
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    s3fs = need_module("s3fs")
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)
    bucket = unique("hygge-smoke")
    fs.mkdir(bucket)
    try:
        fs.pipe_file(f"{bucket}/dir/a.txt", PAYLOAD)
        assert fs.ls(f"{bucket}/dir", detail=False) == [f"{bucket}/dir/a.txt"]
        assert fs.cat_file(f"{bucket}/dir/a.txt") == PAYLOAD
    finally:
        fs.rm(bucket, recursive=True)


def test_azure_answers() -> None:
    """adlfs makes a container, writes, lists and reads back on Azurite."""
    (connection_string,) = need_env("HYGGE_TEST_AZURE_CONNECTION_STRING")
    adlfs = need_module("adlfs")
    fs = adlfs.AzureBlobFileSystem(connection_string=connection_string, skip_instance_cache=True)
    container = unique("hygge-smoke")
    fs.mkdir(container)
    try:
        fs.pipe_file(f"{container}/dir/a.txt", PAYLOAD)
        assert fs.ls(f"{container}/dir", detail=False) == [f"{container}/dir/a.txt"]
        assert fs.cat_file(f"{container}/dir/a.txt") == PAYLOAD
    finally:
        fs.rm(container, recursive=True)


def test_gcs_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """gcsfs writes, lists and reads back in the bucket the emulator was seeded with."""
    endpoint, bucket = need_env("HYGGE_TEST_GCS_ENDPOINT", "HYGGE_TEST_GCS_BUCKET")
    # Before gcsfs is imported, or every call stalls 60 s on a gRPC probe.
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    gcsfs = need_module("gcsfs")
    fs = gcsfs.GCSFileSystem(endpoint_url=endpoint, token="anon", skip_instance_cache=True)
    prefix = f"{bucket}/{unique('smoke')}"
    try:
        fs.pipe_file(f"{prefix}/a.txt", PAYLOAD)
        assert fs.ls(prefix, detail=False) == [f"{prefix}/a.txt"]
        assert fs.cat_file(f"{prefix}/a.txt") == PAYLOAD
    finally:
        fs.rm(prefix, recursive=True)


def test_dask_answers() -> None:
    """The scheduler has two single-threaded workers on loopback, and they run a task."""
    (address,) = need_env("HYGGE_TEST_DASK_SCHEDULER")
    distributed = need_module("distributed")
    with distributed.Client(address, timeout=10) as client:
        client.wait_for_workers(2, timeout=30)
        workers = client.scheduler_info()["workers"]
        assert len(workers) >= 2
        assert all(addr.startswith("tcp://127.0.0.1:") for addr in workers)
        assert all(info["nthreads"] == 1 for info in workers.values())
        assert client.submit(lambda: 1).result(timeout=30) == 1


def test_pushgateway_answers() -> None:
    """The Pushgateway on loopback accepts a pushed group and serves it back."""
    (url,) = need_env("HYGGE_TEST_PUSHGATEWAY_URL")
    assert url.startswith("http://127.0.0.1:")
    group = f"{url}/metrics/job/hygge-smoke/instance/{os.getpid()}"
    body = b"hygge_smoke_value 42\n"
    request = urllib.request.Request(group, data=body, method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert 200 <= response.status < 300
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
            text = response.read().decode()
        assert f'hygge_smoke_value{{instance="{os.getpid()}",job="hygge-smoke"}} 42' in text
    finally:
        urllib.request.urlopen(urllib.request.Request(group, method="DELETE"), timeout=10)


def test_rabbitmq_answers_amqp_and_streams() -> None:
    """The RabbitMQ node takes a message into a stream over AMQP 0-9-1 on loopback and
    listens for the stream protocol on its own loopback port."""
    url, port = need_env("HYGGE_TEST_RABBITMQ_URL", "HYGGE_TEST_RABBITMQ_STREAM_PORT")
    pika = need_module("pika")
    assert urlsplit(url).hostname == "127.0.0.1"
    name = unique("hygge-smoke")
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.queue_declare(name, durable=True, arguments={"x-queue-type": "stream"})
        channel.confirm_delivery()
        channel.basic_publish("", name, PAYLOAD)
        channel.basic_qos(prefetch_count=10)
        for method, props, body in channel.consume(
            name, arguments={"x-stream-offset": "first"}, inactivity_timeout=5
        ):
            assert method is not None, "the stream delivered nothing"
            assert body == PAYLOAD
            assert props.headers["x-stream-offset"] == 0
            break
        channel.cancel()
        channel.queue_delete(name)
    finally:
        connection.close()
    import socket

    with socket.create_connection(("127.0.0.1", int(port)), timeout=5):
        pass  # the stream plugin listens
