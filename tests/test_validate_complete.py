"""What `run` would refuse, `validate` refuses first: every config problem is reported by
`validate` at its file:line, all at once, with exit 2 (issue 21, point 11)."""

from __future__ import annotations

import pathlib
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import Completed, run_cli


@pytest.fixture
def src(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "users.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3]}), path)
    return path


def validate(
    tmp_path: pathlib.Path, text: str, env: dict[str, str] | None = None
) -> tuple[pathlib.Path, Completed]:
    path = tmp_path / "flows.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    result = run_cli("validate", str(path), env=env)
    assert result.code == 2, result.text
    assert "Traceback" not in result.text
    return path, result


@pytest.mark.parametrize("memory", ["plenty", "0", "-5MB", "5XB"])
def test_memory_must_be_a_positive_size(
    tmp_path: pathlib.Path, src: pathlib.Path, memory: str
) -> None:
    path, result = validate(
        tmp_path,
        f"""
        flows:
          users:
            home: {src}
            store: out/
            memory: "{memory}"
        """,
    )
    assert (
        f"{path}:5:13: flow 'users' → field 'memory': '{memory}' is not a positive size; write "
        "bytes or a number with KB, MB or GB, e.g. 256MB\n"
    ) in result.err, result.err


def test_memory_in_defaults(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    path, result = validate(
        tmp_path,
        f"""
        defaults:
          memory: plenty
        flows:
          users: {{home: {src}, store: out/}}
        """,
    )
    assert f"{path}:2:11: field 'defaults.memory': 'plenty' is not a positive size" in result.err, (
        result.err
    )


def test_lookback_that_is_no_duration(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    path, result = validate(
        tmp_path,
        f"""
        flows:
          users:
            home:
              path: {src}
              type: parquet
              incremental: {{cursor: id, lookback: 5 fortnights}}
            store: {{type: parquet, path: out/, mode: replace}}
        """,
    )
    assert (
        f"{path}:6:43: flow 'users' → home → field 'incremental.lookback': lookback "
        "'5 fortnights' is not a duration; write e.g. '30 minutes', '1 hour', '2 days'\n"
    ) in result.err, result.err


def test_sql_connection_fields_are_checked(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    path, result = validate(
        tmp_path,
        f"""
        connections:
          db:
            type: sql
            drivername: postgresql
            host: localhost
            port: ${{HYGGE_T_PORT}}
            password: [a, b]
          typo: {{type: sqll, url: "sqlite:///x.db"}}
          extra: {{type: sql, url: "sqlite:///x.db", hots: h}}
          scheme: {{type: sql, url: "postgresqlx://u@h/d"}}
        flows:
          users:
            home: {src}
            store: {{type: sql, connection: db, table: users}}
        """,
        env={"HYGGE_T_PORT": "not-a-port"},
    )
    err = result.err
    # The expanded port may be a secret: its value is not shown.
    assert (
        f"{path}:6:11: connection 'db' → field 'port': Input should be a valid integer, "
        "unable to parse string as an integer\n"
    ) in err, err
    assert "not-a-port" not in err
    assert f"{path}:7:15: connection 'db' → field 'password': Input should be a valid string" in err
    assert f"{path}:8:16: connection 'typo' → field 'type': unknown connection type 'sqll'" in err
    assert "hint: did you mean 'sql'?" in err
    assert f"{path}:9:45: connection 'extra' → field 'hots': unknown field 'hots'" in err
    assert "hint: did you mean 'host'?" in err
    assert (
        f"{path}:10:28: connection 'scheme' → field 'url': SQLAlchemy has no database "
        "'postgresqlx'; did you mean 'postgresql'?"
    ) in err
    assert "5 problems in" in err


def test_sql_url_with_unknown_scheme_in_a_flow(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    path, result = validate(
        tmp_path,
        f"""
        flows:
          users:
            home: {src}
            store: {{type: sql, url: "postgresqlx://h/d", table: users}}
          ports:
            home: {src}
            store: {{type: sql, url: "postgresql://u@h:5x32/d", table: users}}
        """,
    )
    assert (
        f"{path}:4:29: flow 'users' → store → field 'url': SQLAlchemy has no database "
        "'postgresqlx'; did you mean 'postgresql'?"
    ) in result.err, result.err
    assert (
        f"{path}:7:29: flow 'ports' → store → field 'url': the port in the URL is not a "
        "number; write e.g. host:5432\n"
    ) in result.err, result.err


def test_undefined_connection(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    path, result = validate(
        tmp_path,
        f"""
        connections:
          lake: {{type: sql, url: "sqlite:///x.db"}}
        flows:
          users:
            home: {src}
            store: {{type: sql, connection: laek, table: users}}
        """,
    )
    assert (
        f"{path}:6:36: flow 'users' → store → field 'connection': connection 'laek' is not "
        "defined under connections:\n    hint: did you mean 'lake'?"
    ) in result.err, result.err


def test_cloud_path_without_the_cloud_plugin(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    path, result = validate(
        tmp_path,
        f"""
        flows:
          users:
            home: {src}
            store: {{type: parquet, path: "s3://bucket/users/"}}
        """,
        env={"HYGGE_LOAD_PLUGINS": "hygge-parquet"},
    )
    assert (
        f"{path}:4:34: flow 'users' → store → field 'path': no storage plugin serves 's3://' "
        "paths\n    hint: install it: pip install 'hygge-cloud[s3]'"
    ) in result.err, result.err


def test_flow_errors_do_not_hide_home_and_store_errors(
    tmp_path: pathlib.Path, src: pathlib.Path
) -> None:
    path, result = validate(
        tmp_path,
        f"""
        flows:
          users:
            home: {{type: parquet, path: {src}, colums: [id]}}
            store: {{type: parquet, path: out/, mode: upsert}}
            memory: plenty
            parallelism: 0
        """,
    )
    err = result.err
    assert f"{path}:3:" in err and "unknown field 'colums'" in err, err
    assert f"{path}:4:" in err and "'upsert'" in err, err
    assert f"{path}:5:13: flow 'users' → field 'memory'" in err, err
    assert f"{path}:6:18: flow 'users' → field 'parallelism'" in err, err
    assert "4 problems in" in err


def test_what_validate_passes_runs(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    """The fixed checks accept what is right: sizes, durations and SQL connections."""
    path = tmp_path / "flows.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            connections:
              db: {{type: sql, drivername: sqlite, database: {tmp_path / "t.db"}}}
            flows:
              users:
                home:
                  type: parquet
                  path: {src}
                  incremental: {{cursor: id, lookback: 2}}
                store: {{type: sql, connection: db, table: users, mode: merge, keys: [id]}}
                memory: 1.5MB
            """
        )
    )
    assert run_cli("validate", str(path)).code == 0
    for _ in range(2):  # the lookback is used from the second run on
        result = run_cli("run", str(path), cwd=tmp_path)
        assert result.code == 0, result.text
