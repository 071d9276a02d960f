"""An Azure account that cannot be reached fails in seconds, as the flow's `retry:` says:
a host name that does not resolve is permanent (no retry at all), a closed port is
transient and tried exactly `retry.attempts` times (issue 21, point 10)."""

from __future__ import annotations

import os
import pathlib
import socket
import time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

pytestmark = pytest.mark.services


def _connection_string(endpoint: str) -> str:
    """Azurite's account and key (public, well known), at another blob endpoint."""
    real = os.environ.get("HYGGE_TEST_AZURE_CONNECTION_STRING")
    if not real:
        pytest.skip("HYGGE_TEST_AZURE_CONNECTION_STRING not set (Azurite's account)")
    parts = dict(p.split("=", 1) for p in real.split(";") if p)
    account = parts["AccountName"]
    return (
        f"DefaultEndpointsProtocol=http;AccountName={account};"
        f"AccountKey={parts['AccountKey']};BlobEndpoint={endpoint}/{account};"
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write(tmp_path: pathlib.Path, endpoint: str, attempts: int) -> pathlib.Path:
    pq.write_table(pa.table({"id": [1, 2, 3]}), tmp_path / "src.parquet")
    doc = {
        "connections": {
            "lake": {"type": "azure", "connection_string": _connection_string(endpoint)}
        },
        "flows": {
            "orders": {
                "home": "src.parquet",
                "store": {"type": "parquet", "path": "az://box/orders/", "connection": "lake"},
                "retry": {"attempts": attempts, "initial": 0.1, "maximum": 0.2},
            }
        },
    }
    path = tmp_path / "flows.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _timed(cli: Any, *args: str, cwd: pathlib.Path) -> tuple[Any, float]:
    started = time.monotonic()
    done = cli(*args, cwd=cwd, timeout=240)
    return done, time.monotonic() - started


def test_unresolvable_host_is_not_retried(cli: Any, tmp_path: pathlib.Path) -> None:
    _write(tmp_path, "http://nosuch.invalid", attempts=3)
    done, seconds = _timed(cli, "run", "flows.yaml", cwd=tmp_path)
    assert done.code == 1, done.text
    assert "Traceback" not in done.text
    assert "retrying" not in done.text, done.text
    failed = [line for line in done.err.splitlines() if line.startswith("[orders] FAILED: ")]
    assert len(failed) == 1, done.err
    assert failed[0].startswith(
        "[orders] FAILED: az://box/orders: cannot resolve the host of "
        "Azure Storage ('nosuch.invalid': "
    ), failed[0]
    assert failed[0].endswith(
        "check the account or endpoint name in connection 'lake', and that this machine can "
        "resolve it"
    )
    assert seconds < 30, seconds  # was 90 s with attempts: 1

    done, seconds = _timed(cli, "validate", "--connect", "flows.yaml", cwd=tmp_path)
    assert done.code == 1, done.text
    assert "orders: store " in done.out and "cannot resolve the host of Azure Storage" in done.out
    assert seconds < 30, seconds  # was over 200 s


def test_closed_port_is_tried_as_often_as_retry_says(cli: Any, tmp_path: pathlib.Path) -> None:
    _write(tmp_path, f"http://127.0.0.1:{_closed_port()}", attempts=2)
    done, seconds = _timed(cli, "run", "flows.yaml", cwd=tmp_path)
    assert done.code == 1, done.text
    assert "Traceback" not in done.text
    notes = [line for line in done.err.splitlines() if "retrying in" in line]
    assert len(notes) == 1 and "attempt 1 of 2 failed" in notes[0], done.err
    assert (
        "[orders] FAILED: az://box/orders: Azure Storage is unavailable or throttling" in done.err
    )
    assert seconds < 60, seconds  # each attempt once, no retries inside the SDK


def test_the_sdk_does_not_retry_connections() -> None:
    from hygge_cloud.azure import CONNECT_TIMEOUT, AzureStorage

    fs = AzureStorage.filesystem(
        "az",
        AzureStorage.connection_model.model_validate(
            {"type": "azure", "connection_string": _connection_string("http://127.0.0.1:9")}
        ),
    )
    config = fs.service_client._config
    assert config.retry_policy.connect_retries == 0
    assert config.transport.connection_config.timeout == CONNECT_TIMEOUT == 10
