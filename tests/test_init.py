"""`hygge init`: a commented starter flows.yaml that validates and runs as written."""

from __future__ import annotations

import pathlib
import re

import pyarrow.parquet as pq
import yaml

from tests.conftest import run_cli
from tests.test_plugins import env_with, make_dist


def test_init_writes_a_starter_that_validates_and_runs(tmp_path: pathlib.Path) -> None:
    result = run_cli("init", "conf/flows.yaml", cwd=tmp_path)
    assert result.code == 0, result.text
    assert result.out.strip() == (
        "wrote conf/flows.yaml, conf/data/example.parquet; next: hygge run conf/flows.yaml"
    )
    text = (tmp_path / "conf" / "flows.yaml").read_text()
    assert text.startswith("# flows.yaml, written by `hygge init` for the plugins installed")
    assert "hygge-parquet 0.1.0" in text and "  # hygge-sql:\n  # orders:" in text
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    check = run_cli("validate", str(tmp_path / "conf" / "flows.yaml"), cwd=elsewhere)
    assert check.code == 0, check.text
    assert check.out.strip().endswith("flows.yaml: 1 flow valid")
    done = run_cli("run", str(tmp_path / "conf" / "flows.yaml"), cwd=elsewhere)
    assert done.code == 0, done.text
    table = pq.read_table(tmp_path / "conf" / "lake" / "example")
    assert table.to_pydict() == {
        "id": [1, 2, 3],
        "name": ["Ann", "Bo", "Cy"],
        "amount": [10.5, 3.25, 7.0],
    }
    # Every commented example is YAML that reads as flows once its `#` is removed.
    blocks = re.findall(r"\n  # (hygge-[a-z]+):\n((?:  #.*\n)+)", text)
    assert {name for name, _ in blocks} >= {"hygge-sql", "hygge-delta", "hygge-iceberg"}
    for name, block in blocks:
        flows = yaml.safe_load("\n".join(line[4:] for line in block.splitlines()))
        assert isinstance(flows, dict) and all(
            {"home", "store"} <= set(f) for f in flows.values()
        ), name


def test_init_never_overwrites_a_file(tmp_path: pathlib.Path) -> None:
    (tmp_path / "flows.yaml").write_text("flows: {mine: {home: a.parquet, store: b/}}\n")
    result = run_cli("init", cwd=tmp_path)
    assert result.code == 1
    assert result.err.strip() == (
        "error: flows.yaml already exists; hygge init never overwrites a file: remove it, "
        "or give another name (hygge init other.yaml)"
    )
    assert (tmp_path / "flows.yaml").read_text() == "flows: {mine: {home: a.parquet, store: b/}}\n"
    assert not (tmp_path / "data").exists()


def test_a_third_party_snippet_is_commented_out_and_a_broken_one_named(
    tmp_path: pathlib.Path,
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    make_dist(
        site,
        "hygge-demo",
        "hygge_demo",
        """
        from hygge_core import hookimpl

        @hookimpl
        def hygge_init_snippet():
            return "demo:\\n  home: in/demo.csv\\n  store: lake/demo/\\n"
        """,
    )
    make_dist(
        site,
        "hygge-broken",
        "hygge_broken",
        """
        from hygge_core import hookimpl

        @hookimpl
        def hygge_init_snippet():
            raise RuntimeError("no example today")
        """,
    )
    result = run_cli("init", cwd=tmp_path, env=env_with(site))
    assert result.code == 0, result.text
    text = (tmp_path / "flows.yaml").read_text()
    assert (
        "\n  # hygge-demo:\n  # demo:\n  #   home: in/demo.csv\n  #   store: lake/demo/\n" in text
    )
    assert "\n  # (hygge-broken's example failed: RuntimeError)\n" in text
    check = run_cli("validate", "flows.yaml", cwd=tmp_path, env=env_with(site))
    assert check.code == 0, check.text
