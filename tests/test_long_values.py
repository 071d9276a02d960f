"""A huge value in flows.yaml is quoted cut short, and reported as fast as a small one
(issue 21, point 8: an 80 KB scalar made `validate` take 32 s, printed whole)."""

from __future__ import annotations

import pathlib

from tests.conftest import run_cli


def test_a_huge_value_is_cut_short_in_the_error(tmp_path: pathlib.Path) -> None:
    value = "a" * 200_000
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        "flows:\n  f:\n    home: in.parquet\n"
        f"    store: {{type: parquet, path: out/, mode: {value}}}\n"
        f"    description: {value}\n"
    )
    result = run_cli("validate", str(flows), timeout=60)
    assert result.code == 2, result.text[:500]
    assert result.err == (
        f"{flows}:4:46: flow 'f' → store → field 'mode': invalid value '{'a' * 60}... "
        f"(200,000 characters)': must be one of append, replace\n1 problem in {flows}\n"
    )
