"""What a bad CSV input or an unwritable column says (issue 21, points 8 and 13): the
file, the column, the fix that applies, a long value cut short, no raw control bytes."""

from __future__ import annotations

import pathlib
import re

import pyarrow as pa
import pytest

from hygge_core.testing import FlowHarness


@pytest.fixture
def harness(tmp_path: pathlib.Path) -> FlowHarness:
    return FlowHarness(tmp_path)


def error_of(harness: FlowHarness, home: object, store: object) -> str:
    results = harness.run({"t": {"home": home, "store": store}})
    assert results[0].status == "failed", results[0]
    return results[0].error or ""


@pytest.mark.parametrize("single_file", [False, True])
def test_a_binary_column_to_csv_says_csv(harness, tmp_path, single_file) -> None:
    table = pa.table({"id": [1, 2], "blob": pa.array([b"\x00\x01", b"x"])})
    out = str(tmp_path / ("out.csv" if single_file else "out"))
    error = error_of(harness, harness.parquet_source(table), {"type": "csv", "path": out})
    assert (
        error
        == f"store {out}: column 'blob' is binary: CSV holds text only; cast it to string first"
    )


@pytest.mark.parametrize(
    ("column", "shown"),
    [
        (pa.array([[1, 2], [3]]), "list<element: int64>"),
        (pa.array([{"a": 1}, {"a": 2}]), "struct<a: int64>"),
    ],
)
def test_a_nested_column_to_csv_is_refused_naming_it(harness, tmp_path, column, shown) -> None:
    table = pa.table({"id": [1, 2], "nested": column})
    out = str(tmp_path / "out")
    error = error_of(harness, harness.parquet_source(table), {"type": "csv", "path": out})
    assert error == (
        f"store {out}: column 'nested' is {shown}: CSV has no nested values; "
        "flatten or cast the column first, or use a jsonl store"
    )


def test_a_ragged_row_hints_at_the_row(harness, tmp_path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,name\n1,a\n2,b,c\n3,d\n")
    error = error_of(harness, {"type": "csv", "path": str(src)}, str(tmp_path / "out/"))
    assert error == (
        f"csv file {src}: CSV parse error: Expected 2 columns, got 3: 2,b,c; that row has a "
        "different number of values than the header: fix the row, or quote the value that "
        "holds the delimiter"
    )


def test_a_value_longer_than_a_block_hints_at_block_size(harness, tmp_path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,name\n1,a\n2," + "x" * 200_000 + "\n")
    home = {"type": "csv", "path": str(src), "block_size": 65536}
    error = error_of(harness, home, str(tmp_path / "out/"))
    assert error == (
        f"csv file {src}: straddling object straddles two block boundaries (try to increase "
        "block size?); a row or value is longer than block_size (65,536 bytes): raise "
        "block_size: under the home"
    )


def test_a_long_bad_value_is_cut_short_and_a_nul_byte_escaped(harness, tmp_path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,name\n1,a\n\x00" + "9" * 200_000 + "x,b\n")
    home = {"type": "csv", "path": str(src), "columns": {"id": "int64", "name": "string"}}
    error = error_of(harness, home, str(tmp_path / "out/"))
    assert "\x00" not in error
    # The row is numbered where the file is parsed in pieces (three cores or more).
    head = "(Row #3: )?CSV conversion error to int64: invalid value '\\\\x00999"
    assert re.match(f"{re.escape(f'csv file {src}: in column')} 'id': {head}", error), error[:300]
    assert re.search(r"'\\x0099+\.\.\. \(199,\d{3} more characters\)$", error), error[-100:]
    assert len(error) < 400
