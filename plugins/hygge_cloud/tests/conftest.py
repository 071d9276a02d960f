"""Fixtures for hygge-cloud's tests: the three emulators, fresh buckets, and the CLI.

The emulators come from `scripts/services.py start s3 azure gcs` (moto, Azurite,
fake-gcs-server) through the HYGGE_TEST_* variables it writes. A missing variable skips
the test, unless HYGGE_REQUIRE_SERVICES=1 (CI), where it fails.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import Completed, missing, need_module, run_cli, run_hygge_measured
from hygge_core.testing import need_env as _need_env

# Before anything imports gcsfs (see SERVICES.md): else every call stalls on a gRPC probe.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

HERE = pathlib.Path(__file__).resolve().parent


def need_env(*names: str) -> list[str]:
    """The values of the variables; skip without them (fail when services are required)."""
    return _need_env(
        *names,
        hint="run `python3 scripts/services.py start s3 azure gcs` and source "
        "$HYGGE_SERVICES_DIR/services.env",
    )


def unique(prefix: str) -> str:
    """A bucket, container or folder name no other test uses (lower case for S3/Azure)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- the three object stores -----------------------------------------------------------
@dataclass
class Cloud:
    """One emulated object store, ready for a test: a fresh bucket and how to reach it.

    `fs` is the provider's plain fsspec filesystem (not hygge's), used to arrange and
    inspect data independently of the code under test. `connection` is the flows.yaml
    mapping of a named connection; `env` the variables a default-chain run needs.
    """

    name: str
    scheme: str
    bucket: str
    fs: Any
    connection: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)

    def url(self, *parts: str) -> str:
        """`scheme://bucket/parts...`."""
        return "/".join([f"{self.scheme}://{self.bucket}", *parts])

    def key(self, *parts: str) -> str:
        """`bucket/parts...`, as the fsspec filesystem names it."""
        return "/".join([self.bucket, *parts])

    def read(self, *parts: str) -> pa.Table:
        """What a reader of the dataset sees (pyarrow skips `_`- and `.`-prefixed paths)."""
        return pq.read_table(self.key(*parts), filesystem=self.fs)

    def files(self, *parts: str) -> list[str]:
        """Every object under a prefix, hidden ones included."""
        path = self.key(*parts)
        return sorted(self.fs.find(path)) if self.fs.exists(path) else []

    def write(self, table: pa.Table, *parts: str, row_group_size: int | None = None) -> None:
        """Put `table` as one Parquet object."""
        with self.fs.open(self.key(*parts), "wb") as f:
            pq.write_table(table, f, row_group_size=row_group_size)


S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def s3_cloud() -> Cloud:
    """A fresh bucket on moto."""
    (endpoint,) = need_env("HYGGE_TEST_S3_ENDPOINT")
    s3fs = need_module("s3fs")
    fs = s3fs.S3FileSystem(
        key="testing", secret="testing", endpoint_url=endpoint, use_listings_cache=False
    )
    bucket = unique("hygge-cloud")
    fs.mkdir(bucket)
    connection = {
        "type": "s3",
        "endpoint_url": endpoint,
        "key": "testing",
        "secret": "testing",
        "region": "us-east-1",
    }
    return Cloud("s3", "s3", bucket, fs, connection, {**S3_ENV, "AWS_ENDPOINT_URL": endpoint})


def azure_cloud() -> Cloud:
    """A fresh container on Azurite."""
    (conn_str,) = need_env("HYGGE_TEST_AZURE_CONNECTION_STRING")
    adlfs = need_module("adlfs")
    fs = adlfs.AzureBlobFileSystem(connection_string=conn_str, use_listings_cache=False)
    container = unique("hygge-cloud")
    fs.mkdir(container)
    connection = {"type": "azure", "connection_string": conn_str}
    return Cloud(
        "azure", "az", container, fs, connection, {"AZURE_STORAGE_CONNECTION_STRING": conn_str}
    )


def gcs_cloud() -> Cloud:
    """A fresh bucket on fake-gcs-server."""
    (endpoint,) = need_env("HYGGE_TEST_GCS_ENDPOINT")
    gcsfs = need_module("gcsfs")
    fs = gcsfs.GCSFileSystem(token="anon", endpoint_url=endpoint, use_listings_cache=False)
    bucket = unique("hygge-cloud")
    fs.mkdir(bucket)
    connection = {"type": "gcs", "endpoint_url": endpoint, "anonymous": True}
    env = {"STORAGE_EMULATOR_HOST": endpoint, "NO_GCE_CHECK": "true"}
    return Cloud("gcs", "gs", bucket, fs, connection, env)


MAKERS = {"s3": s3_cloud, "azure": azure_cloud, "gcs": gcs_cloud}


def _cleanup(cloud: Cloud) -> None:
    # An emulator bucket left behind costs nothing; a failed cleanup must not hide the
    # test's own result.
    with contextlib.suppress(Exception):
        cloud.fs.rm(cloud.bucket, recursive=True)


@pytest.fixture(params=sorted(MAKERS))
def cloud(request: pytest.FixtureRequest) -> Iterator[Cloud]:
    """Each of the three object stores in turn, with a fresh bucket."""
    made = MAKERS[request.param]()
    yield made
    _cleanup(made)


@pytest.fixture
def default_chain(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Call with a `Cloud` to make its store reachable through the provider's default
    credential chain (environment variables), as a flow without `connection:` uses it."""

    def apply(made: Cloud) -> None:
        for k, v in made.env.items():
            monkeypatch.setenv(k, v)

    return apply


@pytest.fixture
def s3() -> Iterator[Cloud]:
    """S3 (moto) alone, with a fresh bucket."""
    made = s3_cloud()
    yield made
    _cleanup(made)


@pytest.fixture
def azure() -> Iterator[Cloud]:
    """Azure (Azurite) alone, with a fresh container."""
    made = azure_cloud()
    yield made
    _cleanup(made)


@pytest.fixture
def gcs() -> Iterator[Cloud]:
    """GCS (fake-gcs-server) alone, with a fresh bucket."""
    made = gcs_cloud()
    yield made
    _cleanup(made)


# -- S3 that checks credentials --------------------------------------------------------
@dataclass
class AuthS3:
    """A moto server that authenticates every request (the shared one accepts any key).

    `admin` may do anything; `reader` may only read and list; both are (key, secret).
    """

    endpoint: str
    admin: tuple[str, str]
    reader: tuple[str, str]
    fs: Any

    def connection(self, key: str, secret: str) -> dict[str, Any]:
        """A flows.yaml connection signing with these credentials."""
        return {
            "type": "s3",
            "endpoint_url": self.endpoint,
            "key": key,
            "secret": secret,
            "region": "us-east-1",
        }


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"moto_server did not listen on {port} within {timeout}s")


@pytest.fixture(scope="session")
def auth_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthS3]:
    """Started here, not by scripts/services.py: its moto runs without authentication."""
    need_env("HYGGE_TEST_S3_ENDPOINT")  # the same packages; CI starts that one anyway
    binary = pathlib.Path(sys.executable).parent / "moto_server"
    if not binary.exists():
        missing(f"{binary} not found: pip install 'moto[server]' s3fs")
    import json

    import boto3
    import s3fs

    port = _free_port()
    log = tmp_path_factory.mktemp("moto-auth") / "moto.log"
    # moto lets the first N requests through unauthenticated: exactly the IAM calls below.
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "6"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out, env=env
        )
    try:
        _wait_for_port(port, proc)
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )

        def user(name: str, actions: list[str]) -> tuple[str, str]:
            iam.create_user(UserName=name)
            policy = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
            }
            iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
            k = iam.create_access_key(UserName=name)["AccessKey"]
            return k["AccessKeyId"], k["SecretAccessKey"]

        admin = user("admin", ["s3:*"])
        # AWS authorises ListObjectsV2 as s3:ListBucket; moto 5.2 asks for an action named
        # s3:ListObjectsV2 as well. Granting both keeps the reader a reader on either.
        reader = user(
            "reader", ["s3:GetObject", "s3:ListBucket", "s3:ListObjectsV2", "s3:HeadBucket"]
        )
        fs = s3fs.S3FileSystem(
            key=admin[0], secret=admin[1], endpoint_url=endpoint, skip_instance_cache=True
        )
        yield AuthS3(endpoint, admin, reader, fs)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_measured(
    *args: str, cwd: pathlib.Path, env: dict[str, str | None] | None = None, timeout: float = 900
) -> tuple[Completed, int]:
    """Run `hygge ARGS` and return its result and its peak RSS in bytes (the kit's
    `run_hygge_measured`: hygge's own peak, not pytest's)."""
    run = run_hygge_measured(*args, cwd=cwd, env=env, timeout=timeout)
    return Completed(run.returncode, run.stdout, run.stderr), run.peak_rss


@pytest.fixture
def measured() -> Any:
    """`run_measured` as a fixture."""
    return run_measured


@pytest.fixture
def cli() -> Any:
    """`run_cli` as a fixture (test modules cannot import conftest under importlib mode)."""
    return run_cli


@pytest.fixture
def fresh() -> Any:
    """`unique` as a fixture: a name for a bucket, container or folder no test uses."""
    return unique


# -- an S3 endpoint that misbehaves on purpose -----------------------------------------
class FaultyProxy:
    """An HTTP proxy in front of moto that answers chosen requests with an S3 error.

    moto cannot throttle or fail, so this stands between the client and it: every request
    reaches the real emulator except the ones `fail` picks, which get the error body S3
    itself sends (e.g. 503 SlowDown). `errors` counts the errors served.
    """

    def __init__(self, upstream: str) -> None:
        import http.server
        import threading
        import urllib.parse

        self.upstream = urllib.parse.urlsplit(upstream)
        self.rules: list[dict[str, Any]] = []
        self.errors = 0
        self.requests = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _any(self) -> None:
                proxy.handle(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def fail(self, method: str, count: int, status: int, code: str, message: str) -> None:
        """Answer the next `count` requests of `method` with this S3 error."""
        with self.lock:
            self.rules.append(
                {"method": method, "left": count, "status": status, "code": code, "msg": message}
            )

    def _pick(self, method: str) -> dict[str, Any] | None:
        with self.lock:
            self.requests += 1
            for rule in self.rules:
                if rule["method"] == method and rule["left"] > 0:
                    rule["left"] -= 1
                    self.errors += 1
                    return rule
        return None

    def handle(self, req: Any) -> None:
        import http.client

        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        rule = self._pick(req.command)
        if rule is not None:
            payload = (
                '<?xml version="1.0" encoding="UTF-8"?><Error>'
                f"<Code>{rule['code']}</Code><Message>{rule['msg']}</Message></Error>"
            ).encode()
            req.send_response(rule["status"])
            req.send_header("Content-Type", "application/xml")
            req.send_header("Content-Length", str(len(payload)))
            req.end_headers()
            if req.command != "HEAD":
                req.wfile.write(payload)
            return
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            headers = {k: v for k, v in req.headers.items() if k.lower() != "connection"}
            conn.request(req.command, req.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            req.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    req.send_header(k, v)
            # A HEAD answer has no body but tells the object's size: pass that on.
            length = resp.getheader("Content-Length") if req.command == "HEAD" else None
            req.send_header("Content-Length", length or str(len(data)))
            req.end_headers()
            if req.command != "HEAD":
                req.wfile.write(data)
        finally:
            conn.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def faulty_s3(s3: Cloud) -> Iterator[tuple[Cloud, FaultyProxy]]:
    """The `s3` bucket, with its connection pointed through a `FaultyProxy`."""
    proxy = FaultyProxy(s3.connection["endpoint_url"])
    s3.connection = {**s3.connection, "endpoint_url": proxy.endpoint}
    try:
        yield s3, proxy
    finally:
        proxy.close()


@pytest.fixture(autouse=True)
def _fresh_filesystems() -> Iterator[None]:
    """Forget hygge-cloud's filesystem instances after each test.

    fsspec caches instances by their arguments, not by the environment; a test that runs
    without credentials in its environment must not hand its instance to the next test.
    """
    yield
    from hygge_cloud import azure, gcs, s3

    for module in (s3, azure, gcs):
        if module.filesystem_class.cache_info().currsize:
            module.filesystem_class().clear_instance_cache()
