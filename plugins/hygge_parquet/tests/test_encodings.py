"""The Parquet store's per-column encodings: the choice hygge makes, the user's overrides,
and the errors for overrides that do not fit the data."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import FlowHarness

ROWS = 20_000
DICT = {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}


def small_table() -> pa.Table:
    """A low-cardinality column (`category`, 12 values), a sorted key (`id`), free text and
    random integers (`note`, `code`: nearly every value distinct)."""
    rng = np.random.default_rng(22)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(row) for row in letters[rng.integers(0, 26, (ROWS, 24))]]
    return pa.table(
        {
            "id": pa.array(np.arange(ROWS, dtype=np.int64)),
            "category": pa.array([f"category_{i:02d}" for i in rng.integers(0, 12, ROWS)]),
            "note": pa.array(words),
            "code": pa.array(rng.integers(0, 1 << 60, ROWS, dtype=np.int64)),
            "flag": pa.array(rng.random(ROWS) < 0.5),
        }
    )


def column_chunks(folder: pathlib.Path) -> Iterator[pq.ColumnChunkMetaData]:
    """The metadata of every column chunk: every column of every row group of every part
    file in `folder`."""
    for path in sorted(folder.glob("*.parquet")):
        meta = pq.read_metadata(path)
        for g in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                yield meta.row_group(g).column(c)


def encodings_of(folder: pathlib.Path) -> dict[str, set[str]]:
    """Encodings each column was written with, over every part file and row group."""
    found: dict[str, set[str]] = {}
    for column in column_chunks(folder):
        found.setdefault(column.path_in_schema, set()).update(column.encodings)
    return found


def land(tmp_path: pathlib.Path, table: pa.Table, **store: Any) -> pathlib.Path:
    harness = FlowHarness(tmp_path)
    out = tmp_path / "out"
    sink = {"type": "parquet", "path": str(out), "mode": "replace", **store}
    harness.run_ok({"t": {"home": harness.parquet_source(table, units=3), "store": sink}})
    return out


def test_hygge_chooses_per_column_and_beats_pyarrow_default_size(tmp_path: pathlib.Path) -> None:
    table = small_table()
    out = land(tmp_path, table)
    found = encodings_of(out)
    assert found["category"] & DICT  # 12 values: a dictionary
    assert not found["note"] & DICT and "PLAIN" in found["note"]  # every value distinct
    assert not found["code"] & DICT and "PLAIN" in found["code"]  # random 60-bit: plain
    assert "DELTA_BINARY_PACKED" in found["id"] and not found["id"] & DICT  # sorted key
    assert pq.read_table(out).equals(table)  # every value, in order
    # No larger than pyarrow's default (dictionary on every column) for the same row groups.
    default = tmp_path / "default.parquet"
    pq.write_table(table, default, compression="snappy", row_group_size=-(-ROWS // 3))
    ours = sum(p.stat().st_size for p in out.glob("*.parquet"))
    assert ours <= default.stat().st_size


def codecs_of(folder: pathlib.Path) -> dict[str, set[str]]:
    """Codecs each column was written with, over every part file and row group."""
    found: dict[str, set[str]] = {}
    for column in column_chunks(folder):
        found.setdefault(column.path_in_schema, set()).add(column.compression)
    return found


def test_no_codec_where_it_does_not_pay(tmp_path: pathlib.Path) -> None:
    """Random numbers and free text barely compress: snappy would cost CPU on every write and
    read for a few bytes, so those columns are written without it; the others keep it."""
    rng = np.random.default_rng(7)
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    lengths = rng.integers(20, 41, ROWS)
    letters = alphabet[rng.integers(0, 62, (ROWS, 40))]
    table = small_table().append_column(
        "token", pa.array(["".join(r[:n]) for r, n in zip(letters, lengths, strict=True)])
    )
    table = table.append_column(
        "repetitive", pa.array([f"row {i // 100:06d} of the same group" for i in range(ROWS)])
    )
    out = land(tmp_path, table)
    found = codecs_of(out)
    for column in ("token", "code", "flag"):  # random: snappy saves almost nothing
        assert found[column] == {"UNCOMPRESSED"}, column
    for column in ("id", "category", "repetitive"):  # it pays here
        assert found[column] == {"SNAPPY"}, column
    assert pq.read_table(out).equals(table)
    # Still no larger than pyarrow's default, snappy on every column.
    default = tmp_path / "default.parquet"
    pq.write_table(table, default, compression="snappy", row_group_size=-(-ROWS // 3))
    assert sum(p.stat().st_size for p in out.glob("*.parquet")) <= default.stat().st_size


def test_the_rule_holds_for_other_codecs(tmp_path: pathlib.Path) -> None:
    """zstd shrinks free text of 26 letters (its entropy coding), not random 60-bit numbers;
    `compression: none` writes every column without a codec, as before."""
    table = small_table()
    out = land(tmp_path, table, compression="zstd")
    found = codecs_of(out)
    assert found["note"] == found["category"] == {"ZSTD"}
    assert found["code"] == {"UNCOMPRESSED"}
    assert pq.read_table(out).equals(table)
    (tmp_path / "level").mkdir()  # a level applies to the columns that keep the codec
    leveled = land(tmp_path / "level", table, compression="zstd", compression_level=9)
    assert codecs_of(leveled) == found
    assert pq.read_table(leveled).equals(table)
    (tmp_path / "bare").mkdir()
    bare = land(tmp_path / "bare", table, compression="none")
    assert set().union(*codecs_of(bare).values()) == {"UNCOMPRESSED"}
    assert pq.read_table(bare).equals(table)


@pytest.mark.parametrize(
    ("store", "dictionary", "not_dictionary"),
    [
        ({"dictionary": True}, {"id", "category", "note", "code"}, set()),
        ({"dictionary": False}, set(), {"id", "category", "note", "code"}),
        ({"dictionary": ["note"]}, {"note"}, {"id", "category", "code"}),
    ],
)
def test_dictionary_override(
    tmp_path: pathlib.Path,
    store: dict[str, Any],
    dictionary: set[str],
    not_dictionary: set[str],
) -> None:
    table = small_table()
    out = land(tmp_path, table, **store)
    found = encodings_of(out)
    assert {c for c in dictionary if found[c] & DICT} == dictionary
    assert {c for c in not_dictionary if found[c] & DICT} == set()
    assert pq.read_table(out).equals(table)


def test_encoding_override(tmp_path: pathlib.Path) -> None:
    table = small_table()
    out = land(
        tmp_path,
        table,
        encoding={"category": "delta_byte_array", "id": "PLAIN", "code": "DELTA_BINARY_PACKED"},
    )
    found = encodings_of(out)
    assert "DELTA_BYTE_ARRAY" in found["category"] and not found["category"] & DICT
    assert "PLAIN" in found["id"] and "DELTA_BINARY_PACKED" not in found["id"]
    assert "DELTA_BINARY_PACKED" in found["code"]
    assert pq.read_table(out).equals(table)


def hygge(*args: str) -> subprocess.CompletedProcess[str]:
    cli = pathlib.Path(sys.executable).with_name("hygge")
    return subprocess.run(
        [str(cli), *args], capture_output=True, text=True, timeout=120, env={"COLUMNS": "200"}
    )


def flows_file(tmp_path: pathlib.Path, store_options: str) -> pathlib.Path:
    source = tmp_path / "in.parquet"
    pq.write_table(small_table(), source)
    path = tmp_path / "flows.yaml"
    path.write_text(
        "flows:\n"
        "  t:\n"
        f"    home: {source}\n"
        f"    store: {{type: parquet, path: {tmp_path}/out/, {store_options}}}\n"
    )
    return path


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            "encoding: {categry: PLAIN}",
            "flow 't' → store → field 'encoding.categry': column 'categry' is not in the data\n"
            "    hint: did you mean 'category'?",
        ),
        (
            "encoding: {id: DELTA_BYTE_ARRAY}",
            "flow 't' → store → field 'encoding.id': DELTA_BYTE_ARRAY cannot encode column 'id'"
            " of type int64\n"
            "    hint: valid for this column: PLAIN, DELTA_BINARY_PACKED, BYTE_STREAM_SPLIT",
        ),
        (
            "dictionary: [notes]",
            "flow 't' → store → field 'dictionary': column 'notes' is not in the data\n"
            "    hint: did you mean 'note'?",
        ),
    ],
)
def test_overrides_that_do_not_fit_the_data(
    tmp_path: pathlib.Path, options: str, message: str
) -> None:
    # Found when the data's schema is known, at the start of the run: the flow fails (exit
    # code 1) before anything is written.
    result = hygge("run", str(flows_file(tmp_path, options)))
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    out = tmp_path / "out"
    assert not list(out.glob("*.parquet")) and not list(out.glob("_hygge_staging/*/*"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("encoding: {id: ZIGZAG}", "column 'id': unknown encoding 'ZIGZAG'; valid: PLAIN,"),
        (
            "dictionary: [note], encoding: {note: PLAIN}",
            "column(s) note are under both dictionary and encoding",
        ),
    ],
)
def test_overrides_rejected_by_validate(tmp_path: pathlib.Path, options: str, message: str) -> None:
    path = flows_file(tmp_path, options)
    result = hygge("validate", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    text = result.stdout + result.stderr
    assert f"{path}:4:" in text and "flow 't' → store" in text and message in text
    assert "Traceback" not in text


def test_the_choice_holds_for_every_file_of_a_unit(tmp_path: pathlib.Path) -> None:
    # `shift` never repeats in the unit's first row group, then holds one value: no
    # dictionary, as chosen from the first row group, for the unit's later files too.
    table = small_table().append_column(
        "shift", pa.array(np.where(np.arange(ROWS) < 4000, np.arange(ROWS) * 7919 % 65521, 0))
    )
    harness = FlowHarness(tmp_path)
    home = harness.parquet_source(table)  # one unit
    out = tmp_path / "out"
    store = {"type": "parquet", "path": str(out), "row_group_rows": 4000, "file_rows": 8000}
    harness.run_ok({"t": {"home": home, "store": store}})
    files = sorted(out.glob("*.parquet"))
    assert len(files) == 3
    for path in files:
        meta = pq.read_metadata(path)
        names = [meta.row_group(0).column(c).path_in_schema for c in range(meta.num_columns)]
        shift = meta.row_group(0).column(names.index("shift"))
        assert not set(shift.encodings) & DICT, path.name
    assert pq.read_table(out).equals(table)


def test_nested_columns_keep_a_dictionary_on_their_leaves(tmp_path: pathlib.Path) -> None:
    table = small_table().select(["id"])
    tags = pa.array([[f"t{i % 5}", f"t{i % 3}"] for i in range(ROWS)])
    point = pa.array([{"x": i % 7, "label": f"p{i % 4}"} for i in range(ROWS)])
    table = table.append_column("tags", tags).append_column("point", point)
    out = land(tmp_path, table)
    found = encodings_of(out)
    assert found["tags.list.element"] & DICT
    assert found["point.x"] & DICT and found["point.label"] & DICT
    assert pq.read_table(out).equals(table)
    (tmp_path / "off").mkdir()
    assert not encodings_of(land(tmp_path / "off", table, dictionary=False))["point.x"] & DICT


def test_a_first_look_without_repeats_decides_without_hashing_the_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hygge_core import parquet_encodings as encodings

    # No value twice among 4,096 spread rows: taken for a column of distinct values (GEE
    # would say sqrt(rows x 4,096)); with repeats, GEE as before. In dictionary bytes,
    # 8 an int64.
    assert encodings._estimate(pa.array(range(4096), pa.int64()), 1_000_000) == 8_000_000
    halves = pa.array([i // 2 for i in range(4096)], pa.int64())
    assert encodings._estimate(halves, 1_000_000) == 2048 * 8

    # So ids and timestamps are ruled out after hashing the 4,096, not the 65,536; the
    # low-cardinality column is still counted over the whole sample, and still chosen.
    n = 200_000
    table = pa.table(
        {
            "id": pa.array(np.arange(n), pa.int64()),
            "at": pa.array(np.arange(n) * 1_000_003, pa.timestamp("us")),
            "small": pa.array(np.arange(n) % 50, pa.int64()),
        }
    )
    hashed: list[int] = []
    call = encodings.call

    def counting(name: str, *args: Any) -> Any:
        if name == "value_counts":
            hashed.append(len(args[0]))
        return call(name, *args)

    monkeypatch.setattr(encodings, "call", counting)
    plan = encodings.choose(table, rows_per_group=1_000_000, compression="snappy")
    assert plan.dictionary == ("small",)
    assert sorted(hashed) == [4096, 4096, 4096, encodings.SAMPLE_ROWS]
