"""Throttling and 5xx: retried by the provider's client first, then by hygge's runner.

S3 runs through `FaultyProxy` (moto behind a proxy that answers chosen requests with
S3's own error bodies). Azure and GCS back off for many seconds per try in their clients,
so their faults are checked through the classification of the exceptions those clients
raise, built the way the clients build them.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from hygge_core import PermanentError, TransientError
from hygge_core.testing import sample_table, tables_equal

pytestmark = pytest.mark.services

SLOW_DOWN = ("SlowDown", "Please reduce your request rate.")
UNAVAILABLE = ("ServiceUnavailable", "The service is unavailable, try again later.")


def _flows(tmp_path: pathlib.Path, s3: Any, attempts: int) -> pathlib.Path:
    table = sample_table(3000, seed=7)
    pq.write_table(table, tmp_path / "src.parquet", row_group_size=1000)
    doc = {
        "connections": {"lake": s3.connection},
        "flows": {
            "up": {
                "home": {"type": "parquet", "path": "src.parquet", "unit_rows": 1000},
                "store": {"type": "parquet", "path": s3.url("t"), "connection": "lake"},
                "retry": {"attempts": attempts, "initial": 0.1, "maximum": 0.2},
            }
        },
    }
    (tmp_path / "flows.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return table


def test_throttling_is_absorbed_by_the_client(faulty_s3, cli, tmp_path: pathlib.Path) -> None:
    s3, proxy = faulty_s3
    table = _flows(tmp_path, s3, attempts=1)
    proxy.fail("PUT", 3, 503, *SLOW_DOWN)
    done = cli("run", "flows.yaml", cwd=tmp_path)
    assert done.code == 0, done.text
    assert proxy.errors == 3
    assert tables_equal(s3.read("t"), table)


def test_a_lasting_outage_fails_the_attempt_and_hygge_retries_it(
    faulty_s3, cli, tmp_path: pathlib.Path
) -> None:
    """More 503s than the client's attempts: the attempt fails with a transient error and
    hygge's runner retries the flow, which then lands every row once."""
    s3, proxy = faulty_s3
    table = _flows(tmp_path, s3, attempts=3)
    proxy.fail("PUT", 3, 503, *UNAVAILABLE)
    done = cli("run", "flows.yaml", cwd=tmp_path, env={"AWS_MAX_ATTEMPTS": "2"})
    assert done.code == 0, done.text
    assert "[up] attempt 1 of 3 failed (s3://" in done.err
    assert "S3 is unavailable or throttling (ServiceUnavailable" in done.err
    assert proxy.errors == 3
    assert tables_equal(s3.read("t"), table)
    leftovers = [f for f in s3.files("t") if "_hygge_staging" in f or "/_hygge/commits/" in f]
    assert leftovers == []


def test_an_outage_longer_than_every_retry_fails_the_flow(
    faulty_s3, cli, tmp_path: pathlib.Path
) -> None:
    s3, proxy = faulty_s3
    _flows(tmp_path, s3, attempts=2)
    proxy.fail("PUT", 1000, 500, "InternalError", "We encountered an internal error.")
    done = cli("run", "flows.yaml", cwd=tmp_path, env={"AWS_MAX_ATTEMPTS": "2"})
    assert done.code == 1
    failed = [line for line in done.err.splitlines() if line.startswith("[up] FAILED: ")]
    assert failed == [
        f"[up] FAILED: {s3.url('t')}: S3 is unavailable or throttling (InternalError: We "
        "encountered an internal error.)"
    ], done.err
    assert "attempt 1 of 2 failed" in done.err
    assert [f for f in s3.files("t") if "_hygge" not in f] == []


# -- classification of the other providers' faults --------------------------------------
def _azure_error(status: int, code: str, message: str) -> Exception:
    from azure.core.exceptions import HttpResponseError

    exc = HttpResponseError(message=message)
    exc.status_code = status
    exc.error_code = code
    return exc


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (503, "ServerBusy", TransientError),
        (500, "InternalError", TransientError),
        (429, "", TransientError),
        (403, "AuthorizationPermissionMismatch", PermanentError),
        (403, "AuthenticationFailed", PermanentError),
    ],
)
def test_azure_faults(status: int, code: str, kind: type) -> None:
    pytest.importorskip("adlfs")
    from hygge_cloud.azure import AzureRules, filesystem_class
    from hygge_cloud.errors import to_error

    fault = AzureRules.classify(_azure_error(status, code, "it went wrong"))
    assert fault is not None
    error = to_error(fault, "az://c/p", "connection 'x'", AzureRules.service)
    assert isinstance(error, kind)
    assert str(error).startswith("az://c/p: ")
    assert filesystem_class()  # the guarded class builds


def test_azure_connection_drop_is_transient() -> None:
    pytest.importorskip("adlfs")
    from azure.core.exceptions import ServiceRequestError
    from hygge_cloud.azure import AzureRules

    fault = AzureRules.classify(ServiceRequestError("Connection reset by peer"))
    assert fault is not None and fault.kind == "transient"


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (503, "transient"),
        (429, "transient"),
        (500, "transient"),
        (401, "rejected"),
        (403, "denied"),
    ],
)
def test_gcs_faults(code: int, kind: str) -> None:
    pytest.importorskip("gcsfs")
    from gcsfs.retry import HttpError
    from hygge_cloud.gcs import GCSRules

    fault = GCSRules.classify(HttpError({"code": code, "message": "it went wrong"}))
    assert fault is not None and fault.kind == kind


def test_gcs_forbidden_as_gcsfs_raises_it() -> None:
    """gcsfs turns a 403 into OSError("Forbidden: <path>\\n<message>"): a denied write."""
    pytest.importorskip("gcsfs")
    from gcsfs.retry import validate_response
    from hygge_cloud.errors import AccessDenied, to_error
    from hygge_cloud.gcs import GCSRules

    body = b'{"error": {"code": 403, "message": "caller does not have storage.objects.create"}}'
    with pytest.raises(OSError) as info:
        validate_response(403, body, "b/bkt/o")
    fault = GCSRules.classify(info.value)
    assert fault is not None
    error = to_error(fault, "gs://bkt/t", "connection 'x'", GCSRules.service)
    assert isinstance(error, AccessDenied) and isinstance(error, PermissionError)
    assert str(error) == (
        "gs://bkt/t: access denied (403: caller does not have storage.objects.create); "
        "check the permissions of connection 'x'"
    )
