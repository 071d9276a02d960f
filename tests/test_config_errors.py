"""Every kind of malformed flows.yaml exits 2 naming file:line, flow, side and field."""

from __future__ import annotations

import pathlib
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import run_cli


@pytest.fixture
def src(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "users.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3]}), path)
    return path


def write(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    path = tmp_path / "flows.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def check(
    tmp_path: pathlib.Path, text: str, *expected: str, env: dict[str, str] | None = None
) -> str:
    path = write(tmp_path, text)
    result = run_cli("run", str(path), env=env)
    assert result.code == 2, result.text
    assert "Traceback" not in result.text
    for piece in expected:
        assert piece.format(file=path) in result.err, result.err
    return result.err


def test_bad_yaml(tmp_path: pathlib.Path) -> None:
    check(
        tmp_path,
        """
        flows:
          users:
            home: a.parquet
           store: b/
        """,
        "{file}:4:",
        "invalid YAML",
        "hint: check indentation",
    )


def test_unknown_type_suggests_close_match(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    check(
        tmp_path,
        f"""
        flows:
          users:
            home: {{type: parqet, path: {src}}}
            store: {{type: parquet, path: out/}}
        """,
        "{file}:3:",
        "flow 'users' → home → field 'type': unknown home type 'parqet'",
        "did you mean 'parquet'?",
    )


def test_misspelled_key_suggests_close_match(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    check(
        tmp_path,
        f"""
        flows:
          users:
            home: {{type: parquet, path: {src}, colums: [id]}}
            store: out/
        """,
        "{file}:3:",
        "flow 'users' → home → field 'colums': unknown field 'colums'",
        "did you mean 'columns'?",
    )


def test_misspelled_flow_option(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    check(
        tmp_path,
        f"""
        flows:
          users:
            home: {src}
            store: out/
            schema_drfit: evolve
        """,
        "{file}:5:",
        "flow 'users'",
        "unknown field 'schema_drfit'",
        "did you mean 'schema_drift'?",
    )


def test_missing_home_and_store(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    err = check(
        tmp_path,
        f"""
        flows:
          users:
            home: {src}
          orders:
            store: out/
        """,
        "{file}:2:",
        "flow 'users' → store: missing 'store:'",
        "{file}:4:",
        "flow 'orders' → home: missing 'home:'",
    )
    assert "2 problems" in err


def test_bad_mode(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    check(
        tmp_path,
        f"""
        flows:
          users:
            home: {src}
            store:
              type: parquet
              path: out/
              mode: replce
        """,
        "{file}:7:",
        "flow 'users' → store → field 'mode'",
        "'replce'",
        "did you mean 'replace'?",
    )


def test_mode_the_store_does_not_support(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    check(
        tmp_path,
        f"""
        flows:
          users:
            home: {src}
            store: {{type: parquet, path: out/, mode: merge, keys: [id]}}
        """,
        "{file}:4:",
        "flow 'users' → store → field 'mode'",
        "'merge'",
    )


def test_unset_env_var(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    check(
        tmp_path,
        f"""
        flows:
          users:
            home: {src}
            store: ${{HYGGE_TEST_SURELY_UNSET}}/users/
        """,
        "{file}:4:",
        "environment variable HYGGE_TEST_SURELY_UNSET is not set",
        "${{HYGGE_TEST_SURELY_UNSET:-value}}",
        env={},
    )


def test_env_default_and_value_are_used(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    path = write(
        tmp_path,
        f"""
        flows:
          users:
            home: ${{SRC}}
            store: ${{OUT:-{tmp_path}/lake}}/users/
        """,
    )
    result = run_cli("run", str(path), env={"SRC": str(src)})
    assert result.code == 0, result.text
    assert pq.read_table(tmp_path / "lake" / "users").num_rows == 3


def test_all_problems_reported_at_once(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    err = check(
        tmp_path,
        f"""
        flows:
          a:
            home: {{type: parqet, path: {src}}}
            store: out/a/
          b:
            home: {src}
            store: {{type: parquet, path: out/b/, compresion: zstd}}
        """,
        "{file}:3:",
        "{file}:7:",
        "did you mean 'compression'?",
    )
    assert "2 problems" in err


def test_unknown_defaults_key(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    check(
        tmp_path,
        f"""
        defaults:
          store: {{compresion: zstd}}
        flows:
          users:
            home: {src}
            store: out/
        """,
        "{file}:2:",
        "no store of any flow has a field 'compresion'",
    )


def test_defaults_are_merged(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    path = write(
        tmp_path,
        f"""
        defaults:
          store: {{compression: zstd, dictionary: true}}
        flows:
          users:
            home: {src}
            store: {tmp_path}/lake/users/
        """,
    )
    assert run_cli("run", str(path)).code == 0
    meta = pq.ParquetFile(next((tmp_path / "lake" / "users").glob("*.parquet"))).metadata
    # A dictionary column keeps the store's codec whatever it saves (left to choose, hygge
    # would write these 3 values without one: zstd makes them no smaller).
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert "RLE_DICTIONARY" in meta.row_group(0).column(0).encodings


def test_missing_file(tmp_path: pathlib.Path) -> None:
    result = run_cli("run", str(tmp_path / "nope.yaml"))
    assert result.code == 2 and "file not found" in result.err


def test_empty_and_flowless_files(tmp_path: pathlib.Path) -> None:
    check(tmp_path, "\n", "the file is empty")
    check(tmp_path, "connections: {}\n", "missing 'flows:'")


def test_unknown_flow_selected(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    path = write(tmp_path, f"flows:\n  users:\n    home: {src}\n    store: out/\n")
    result = run_cli("run", str(path), "--flow", "usres")
    assert result.code == 2 and "did you mean 'users'?" in result.err


def test_validate_reports_the_same(tmp_path: pathlib.Path, src: pathlib.Path) -> None:
    path = write(tmp_path, f"flows:\n  users:\n    home: {src}\n    store: {{type: parqet}}\n")
    result = run_cli("validate", str(path))
    assert result.code == 2 and "unknown store type 'parqet'" in result.err
    good = write(tmp_path, f"flows:\n  users:\n    home: {src}\n    store: out/\n")
    ok = run_cli("validate", str(good))
    assert ok.code == 0 and "1 flow valid" in ok.out


def test_storage_connection_fields_are_checked_with_lines(
    tmp_path: pathlib.Path, src: pathlib.Path
) -> None:
    pytest.importorskip("hygge_cloud")
    check(
        tmp_path,
        f"""
        connections:
          lake:
            type: s3
            key: abc
            secrett: xyz
        flows:
          users:
            home: {src}
            store: {{type: parquet, path: "s3://bucket/x/", connection: lake}}
        """,
        "{file}:5:",
        "connection 'lake' → field 'secrett': unknown field 'secrett'",
        "did you mean 'secret'?",
    )
