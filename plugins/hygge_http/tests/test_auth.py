"""Every auth scheme reaches the data; bad credentials fail clearly; secrets never show."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
import yaml
from fakeapi import FakeApi

from hygge_core.testing import FlowHarness, run_cli

TOKEN = "s3cr3t-T0KEN-value"


def flow(api: FakeApi, harness: FlowHarness, auth: Any, **extra: Any) -> dict[str, Any]:
    home = {"type": "http", "url": f"{api.url}/link/items", "paginate": "link", "auth": auth}
    return {"f": {"home": {**home, **extra}, "store": harness.parquet_sink()}}


SCHEMES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "bearer": ({"bearer": TOKEN}, {"type": "bearer", "token": "${HTTP_TEST_SECRET}"}),
    "basic": (
        {"basic": ("ann", TOKEN)},
        {"type": "basic", "username": "ann", "password": "${HTTP_TEST_SECRET}"},
    ),
    "api_key_header": (
        {"header": ("X-Api-Key", TOKEN)},
        {"type": "api_key", "name": "X-Api-Key", "key": "${HTTP_TEST_SECRET}"},
    ),
    "api_key_query": (
        {"query": ("k", TOKEN)},
        {"type": "api_key", "name": "k", "key": "${HTTP_TEST_SECRET}", "in": "query"},
    ),
    "oauth2": (
        {"oauth2": {"client_id": "app", "client_secret": TOKEN}},
        {
            "type": "oauth2",
            "token_url": "TOKEN_URL",
            "client_id": "app",
            "client_secret": "${HTTP_TEST_SECRET}",
        },
    ),
}


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_each_scheme_lands_every_record(
    api: FakeApi, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    monkeypatch.setenv("HTTP_TEST_SECRET", TOKEN)
    api.generate("items", 1_050)
    api.token_uses = 4  # an OAuth2 token dies after 4 requests: the home fetches another
    want, auth = SCHEMES[scheme]
    api.auth = want
    auth = {k: (f"{api.url}/oauth/token" if v == "TOKEN_URL" else v) for k, v in auth.items()}
    harness = FlowHarness(tmp_path)
    harness.run_ok(flow(api, harness, auth))
    got = harness.read_parquet_dir(tmp_path / "sink").sort_by("id")
    assert got.to_pylist() == api.datasets["items"]
    if scheme == "oauth2":
        # One for the first page that types were inferred from, then 11 pages at 4 each.
        assert sorted(api.tokens.values()) == [0, 0, 1, 3]


def test_refused_credentials_fail_without_showing_them(
    api: FakeApi, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_TEST_SECRET", TOKEN)
    api.generate("items", 10)
    api.auth = {"bearer": "another"}
    harness = FlowHarness(tmp_path)
    results = harness.run(flow(api, harness, SCHEMES["bearer"][1]))
    assert results[0].error == (
        f"page 1 of GET {api.url}/link/items: HTTP 401 Unauthorized: "
        '{"error": "bad bearer token"}; the API did not accept the credentials: check auth:'
    )


def test_oauth2_refused_client_names_the_fix(
    api: FakeApi, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_TEST_SECRET", TOKEN)
    api.generate("items", 10)
    api.auth = {"oauth2": {"client_id": "app", "client_secret": "other"}}
    auth = {**SCHEMES["oauth2"][1], "token_url": f"{api.url}/oauth/token"}
    harness = FlowHarness(tmp_path)
    results = harness.run(flow(api, harness, auth))
    assert results[0].error == (
        f"page 1 of GET {api.url}/link/items: OAuth2 token URL {api.url}/oauth/token refused "
        "the client credentials (HTTP 401); check client_id and client_secret"
    )


def test_secrets_never_reach_the_output(api: FakeApi, tmp_path: pathlib.Path) -> None:
    """A query-string key through `-v` logs (httpx logs each URL), and a token a user put
    in params: through an error message."""
    api.generate("items", 300)
    api.auth = {"query": ("k", TOKEN)}
    api.faults.malformed_page = 2
    auth = {"type": "api_key", "name": "k", "key": "${HTTP_TEST_SECRET}", "in": "query"}
    home = {
        "type": "http",
        "url": f"{api.url}/link/items",
        "paginate": "link",
        "auth": auth,
        "params": {"access_token": "${HTTP_TEST_SECRET}"},
    }
    store = {"type": "parquet", "path": str(tmp_path / "sink")}
    path = tmp_path / "flows.yaml"
    path.write_text(yaml.safe_dump({"flows": {"f": {"home": home, "store": store}}}))
    done = run_cli("-v", "run", str(path), env={"HTTP_TEST_SECRET": TOKEN})
    assert done.code == 1
    out = done.text
    assert "page 2 of GET" in out and "the response is not valid JSON" in out
    assert "access_token=***" in out
    assert "HTTP Request: GET" in out, "-v shows each request (httpx logs it)"
    assert TOKEN not in out


def test_a_named_connection_gives_base_url_headers_and_auth(
    api: FakeApi, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_TEST_SECRET", TOKEN)
    api.generate("items", 230)
    api.auth = {"header": ("X-Api-Key", TOKEN)}
    connections = {
        "crm": {
            "type": "http",
            "base_url": api.url,
            "auth": {"type": "api_key", "name": "X-Api-Key", "key": "${HTTP_TEST_SECRET}"},
        }
    }
    harness = FlowHarness(tmp_path, connections=connections)
    home = {"type": "http", "connection": "crm", "url": "/link/items", "paginate": "link"}
    harness.run_ok({"f": {"home": home, "store": harness.parquet_sink()}})
    got = harness.read_parquet_dir(tmp_path / "sink").sort_by("id")
    assert got.to_pylist() == api.datasets["items"]
