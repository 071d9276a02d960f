"""The kit's helpers for tests that run the CLI or need a service (hygge_core.testing)."""

from __future__ import annotations

import json
import pathlib

import pytest

from hygge_core.testing import missing, need_env, need_module, run_cli


def test_run_cli_runs_hygge_with_the_given_environment(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYGGE_LOAD_PLUGINS", "hygge-parquet")
    done = run_cli("plugins", "--json", cwd=tmp_path, env={"HYGGE_LOAD_PLUGINS": None})
    assert done.code == 0, done.text
    names = {p["distribution"] for p in json.loads(done.out)["plugins"]}
    assert {"hygge-core", "hygge-parquet", "hygge-csv"} <= names  # the variable was removed
    done = run_cli("plugins", "--json", env={"HYGGE_LOAD_PLUGINS": ""})
    assert {p["distribution"] for p in json.loads(done.out)["plugins"]} == {"hygge-core"}
    done = run_cli("run", str(tmp_path / "nope.yaml"))
    assert done.code == 2
    assert done.text == done.out + done.err and "nope.yaml" in done.err


def test_a_missing_service_skips_or_fails_when_services_are_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HYGGE_TEST_NOTHING", raising=False)
    monkeypatch.setenv("HYGGE_TEST_THERE", "tcp://127.0.0.1:1")
    monkeypatch.delenv("HYGGE_REQUIRE_SERVICES", raising=False)
    assert need_env("HYGGE_TEST_THERE") == ["tcp://127.0.0.1:1"]
    with pytest.raises(pytest.skip.Exception, match=r"^HYGGE_TEST_NOTHING not set: start it$"):
        need_env("HYGGE_TEST_THERE", "HYGGE_TEST_NOTHING", hint="start it")
    with pytest.raises(pytest.skip.Exception, match=r"^no_such_module_x is not installed"):
        need_module("no_such_module_x")
    monkeypatch.setenv("HYGGE_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match=r"^HYGGE_TEST_NOTHING not set: start it$"):
        need_env("HYGGE_TEST_NOTHING", hint="start it")
    with pytest.raises(pytest.fail.Exception, match=r"^moto_server not found$"):
        missing("moto_server not found")
    assert need_module("json") is json
