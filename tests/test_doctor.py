"""`hygge doctor`: each finding in its own test, with the exit code a probe sees."""

from __future__ import annotations

import json
import pathlib
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa

from hygge_core.testing import FlowHarness, need_env
from tests.conftest import run_cli
from tests.test_plugins import env_with, make_dist


def _parquet_flow(tmp_path: pathlib.Path) -> pathlib.Path:
    h = FlowHarness(tmp_path)
    flows = {
        "users": {
            "home": h.parquet_source(pa.table({"id": list(range(30))}), "users", units=3),
            "store": h.parquet_sink("users_out", mode="append"),
        }
    }
    return h.write(flows)


def _findings(result_out: str) -> list[dict[str, str]]:
    return list(json.loads(result_out)["findings"])


def test_a_healthy_file_exits_0(tmp_path: pathlib.Path) -> None:
    path = _parquet_flow(tmp_path)
    assert run_cli("run", str(path)).code == 0
    result = run_cli("doctor", str(path))
    assert result.code == 0, result.text
    assert "ok      users: connection: home" in result.out
    assert "users: space:" in result.out and "free on the disk" in result.out
    assert "healthy (0 error(s), 0 warning(s))" in result.out


def test_an_unreachable_server_is_an_error(tmp_path: pathlib.Path) -> None:
    h = FlowHarness(tmp_path)
    flows = {
        "db": {
            "home": h.parquet_source(pa.table({"id": [1]}), "db"),
            # Port 1 on the loopback: nothing listens, the connection is refused at once.
            "store": {"type": "sql", "url": "postgresql+psycopg://postgres@127.0.0.1:1/x",
                      "table": "t_doctor_unreachable"},
        }
    }  # fmt: skip
    result = run_cli("doctor", str(h.write(flows)), "--json")
    assert result.code == 1, result.text
    errors = [f for f in _findings(result.out) if f["level"] == "error"]
    assert [(f["flow"], f["check"]) for f in errors] == [("db", "connection")]
    assert "store" in errors[0]["message"] and "127.0.0.1:1" in errors[0]["message"]


def test_bad_credentials_are_an_error_with_the_password_masked(tmp_path: pathlib.Path) -> None:
    (url,) = need_env("HYGGE_TEST_MYSQL_URL")
    parts = urlsplit(url)
    user = parts.username or "root"
    bad = urlunsplit(parts._replace(netloc=f"{user}:wrong-pw-123@{parts.hostname}:{parts.port}"))
    h = FlowHarness(tmp_path)
    flows = {
        "db": {
            "home": h.parquet_source(pa.table({"id": [1]}), "db"),
            "store": {"type": "sql", "url": bad, "table": "t_doctor_badcreds"},
        }
    }
    result = run_cli("doctor", str(h.write(flows)))
    assert result.code == 1, result.text
    assert "ERROR   db: connection: store" in result.out
    assert "Access denied" in result.out
    assert "wrong-pw-123" not in result.out + result.err


def test_an_unfinished_commit_record_is_a_warning_until_a_run_completes_it(
    tmp_path: pathlib.Path,
) -> None:
    path = _parquet_flow(tmp_path)
    killed = run_cli("run", str(path), env={"HYGGE_FAULTS": "commit.record@1=kill"})
    assert killed.code == -9, killed.text
    result = run_cli("doctor", str(path))
    assert result.code == 3, result.text
    assert "WARNING users: commit: unfinished commit record of run" in result.out
    assert "healthy, with warnings (0 error(s), 1 warning(s))" in result.out
    assert run_cli("run", str(path)).code == 0  # rolls the commit forward
    assert run_cli("doctor", str(path)).code == 0


def test_orphaned_staging_is_a_warning(tmp_path: pathlib.Path) -> None:
    path = _parquet_flow(tmp_path)
    killed = run_cli("run", str(path), env={"HYGGE_FAULTS": "unit.staged@2=kill"})
    assert killed.code == -9, killed.text
    result = run_cli("doctor", str(path), "--json")
    assert result.code == 3, result.text
    warnings = [f for f in _findings(result.out) if f["level"] == "warning"]
    assert [(f["flow"], f["check"]) for f in warnings] == [("users", "staging")]
    assert "orphaned staging of run" in warnings[0]["message"]
    assert run_cli("run", str(path)).code == 0  # adopts the staged unit, removes the rest
    assert run_cli("doctor", str(path)).code == 0


def test_a_plugin_that_fails_to_load_is_an_error(tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    make_dist(site, "hygge-broken", "hygge_broken_doctor", "import no_such_module_xyz\n")
    path = _parquet_flow(tmp_path)
    result = run_cli("doctor", str(path), env=env_with(site))
    assert result.code == 1, result.text
    assert "ERROR   plugins: plugin hygge-broken 1.2.3 failed to load" in result.out
    assert "no_such_module_xyz" in result.out


def test_an_invalid_file_exits_2(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "flows.yaml"
    path.write_text("flows:\n  f:\n    home: {type: parquet}\n    store: out/\n")
    assert run_cli("doctor", str(path)).code == 2


def test_low_free_space_is_a_warning(tmp_path: pathlib.Path) -> None:
    from hygge_core.health import free_space

    # A threshold above any disk's size: whatever is free is "low".
    low = free_space(str(tmp_path / "not" / "yet" / "made"), low=1 << 62)
    assert low is not None and low.level == "warning" and low.check == "space"
    assert low.message.startswith("only ") and "a run staging more than that fails" in low.message
    ok = free_space(str(tmp_path), low=1)
    assert ok is not None and ok.level == "ok"
