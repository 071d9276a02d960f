"""A huge value in flows.yaml is quoted cut short, and reported as fast as a small one
(issue 21, point 8: an 80 KB scalar made `validate` take 32 s, printed whole)."""

from __future__ import annotations

import pathlib
import re

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
        f"(200,000 characters)': must be one of append, replace, replace_partitions\n"
        f"1 problem in {flows}\n"
    )


def test_a_bad_csv_value_is_printed_once_cut_short(tmp_path: pathlib.Path) -> None:
    import subprocess

    from hygge_core.testing import hygge_executable

    (tmp_path / "in.csv").write_text("id,name\n1,a\n" + "7" * 200_000 + "x,b\n")
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        "flows:\n  bad:\n"
        f"    home: {{type: csv, path: {tmp_path}/in.csv, columns: {{id: int64, name: string}}}}\n"
        f"    store: {tmp_path}/out/\n"
    )
    # stdout and stderr in one place, as on a terminal or with `2>&1`.
    done = subprocess.run(
        [hygge_executable(), "run", str(flows)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout[:500]
    # The row is numbered where the file is parsed in pieces (three cores or more).
    error = (
        f"csv file {tmp_path}/in.csv: in column 'id': (Row #3: )?CSV conversion error to int64: "
        f"invalid value '{'7' * 120}"
    )
    assert re.search(error, done.stdout), done.stdout[:1000]
    # Once: the summary does not repeat what the FAILED line printed in the same place.
    assert done.stdout.count("characters)") == 1, done.stdout
    assert len(done.stdout) < 3000
