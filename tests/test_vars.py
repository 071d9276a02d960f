"""`vars:` and `--var NAME=VALUE`, used in flows.yaml as `${var.NAME}`."""

from __future__ import annotations

import pathlib

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import run_cli


def _setup(tmp_path: pathlib.Path, body: str) -> pathlib.Path:
    (tmp_path / "in").mkdir()
    for day, rows in (("d1", 2), ("d2", 7)):
        pq.write_table(pa.table({"id": list(range(rows))}), tmp_path / "in" / f"{day}.parquet")
    path = tmp_path / "flows.yaml"
    path.write_text(body)
    return path


FLOWS = """vars:
  day: d1
  units: 2
flows:
  daily:
    home: in/${var.day}.parquet
    store: {type: parquet, path: "lake/${var.day}/", mode: replace}
    parallelism: ${var.units}
    description: "day ${var.day}, $${var.day} is literal"
"""


def test_vars_fill_values_and_var_on_the_command_line_wins(tmp_path: pathlib.Path) -> None:
    path = _setup(tmp_path, FLOWS)
    result = run_cli("run", str(path), cwd=tmp_path)
    assert result.code == 0, result.text
    assert pq.read_table(tmp_path / "lake" / "d1").num_rows == 2
    result = run_cli("run", str(path), "--var", "day=d2", "--var", "units=1", cwd=tmp_path)
    assert result.code == 0, result.text
    assert pq.read_table(tmp_path / "lake" / "d2").num_rows == 7


def test_an_undefined_variable_is_located(tmp_path: pathlib.Path) -> None:
    path = _setup(tmp_path, FLOWS.replace("${var.units}", "${var.unit}"))
    result = run_cli("validate", str(path), cwd=tmp_path)
    assert result.code == 2
    assert result.err.splitlines() == [
        f"{path}:8:18: variable 'unit' is not defined",
        "    hint: did you mean 'units'?",
        f"1 problem in {path}",
    ]


def test_bad_and_unused_var_options_are_refused(tmp_path: pathlib.Path) -> None:
    path = _setup(tmp_path, FLOWS)
    result = run_cli("run", str(path), "--var", "day", cwd=tmp_path)
    assert result.code == 2
    assert result.err.strip() == (
        "error: --var takes NAME=VALUE (a name of letters, digits and '_'), not 'day'"
    )
    result = run_cli("run", str(path), "--var", "dya=d2", cwd=tmp_path)
    assert result.code == 2
    assert result.err.splitlines() == [
        f"{path}: --var dya: the file has no ${{var.dya}} and no vars: entry 'dya'",
        "    hint: did you mean 'day'?",
        f"1 problem in {path}",
    ]
    assert not (tmp_path / "lake").exists()


def test_every_command_that_reads_the_file_takes_var(tmp_path: pathlib.Path) -> None:
    path = _setup(tmp_path, FLOWS.replace("  day: d1\n", ""))
    assert run_cli("validate", str(path), cwd=tmp_path).code == 2  # day is not defined
    for command in (["validate"], ["history"], ["state", "show"], ["run", "--dry-run"]):
        result = run_cli(*command, str(path), "--var", "day=d2", cwd=tmp_path)
        assert result.code == 0, (command, result.text)
    result = run_cli("preview", str(path), "--flow", "daily", "--var", "day=d2", cwd=tmp_path)
    assert result.code == 0, result.text
    assert "daily: parquet in/d2.parquet" in result.out
