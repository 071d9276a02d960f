"""hygge-csv beyond the kit: options, bare paths, exact round trips through the CLI, errors."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import pathlib
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from hygge_core.plugins import load_registry
from hygge_core.testing import FlowHarness, sample_table, tables_equal

CSV_TYPES = {"int32", "int64", "float64", "bool", "string", "timestamp", "timestamp_tz", "date"}
CSV_TYPES |= {"decimal"}


def hygge(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    """The real CLI, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-c", "from hygge_core.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_flows(path: pathlib.Path, flows: dict) -> pathlib.Path:
    path.write_text(yaml.safe_dump({"flows": flows}, sort_keys=False))
    return path


@pytest.fixture
def harness(tmp_path: pathlib.Path) -> FlowHarness:
    return FlowHarness(tmp_path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("data/users.csv", "csv"),
        ("data/users.CSV.gz", "csv"),
        ("data/users.tsv", "csv"),
        ("exports/*.csv", "csv"),
        ("events.jsonl", "jsonl"),
        ("events.ndjson", "jsonl"),
        ("events.jsonl.zst", "jsonl"),
        ("users.parquet", "parquet"),
        ("notes.txt", None),
    ],
)
def test_bare_paths_pick_the_type(path: str, expected: str | None) -> None:
    hook = load_registry().pm.hook.hygge_type_for_path
    for side in ("home", "store"):
        assert hook(path=path, side=side) == expected


def test_parquet_to_csv_to_parquet_is_exact_through_the_cli(tmp_path: pathlib.Path) -> None:
    table = sample_table(3000, types=CSV_TYPES, nulls=0.1)
    pq.write_table(table, tmp_path / "users.parquet", row_group_size=700)
    columns = {f.name: str(f.type) for f in table.schema}
    flows = write_flows(
        tmp_path / "flows.yaml",
        {
            "to_csv": {"home": "users.parquet", "store": "out/users.csv"},
            "to_jsonl": {"home": "users.parquet", "store": "out/users.jsonl.gz"},
        },
    )
    done = hygge("run", str(flows), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "out" / "users.csv").read_text()
    assert text.splitlines()[0] == ",".join(f'"{n}"' for n in table.column_names)
    assert len(text.splitlines()) == 3001  # one header, no part headers inside
    back = write_flows(
        tmp_path / "back.yaml",
        {
            "from_csv": {
                "home": {"type": "csv", "path": "out/users.csv", "columns": columns},
                "store": {"type": "parquet", "path": "lake/csv", "mode": "replace"},
            },
            "from_jsonl": {
                "home": {"type": "jsonl", "path": "out/users.jsonl.gz", "columns": columns},
                "store": {"type": "parquet", "path": "lake/jsonl", "mode": "replace"},
            },
        },
    )
    done = hygge("run", str(back), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("csv", "jsonl"):
        landed = pq.read_table(tmp_path / "lake" / name)
        assert tables_equal(landed, table), f"{name} round trip changed the data"


def test_inferred_types_from_a_hand_written_csv(harness: FlowHarness, tmp_path: pathlib.Path):
    (tmp_path / "in.csv").write_text(
        "id,name,score,joined,active\n"
        '1,"Ann, the first",1.5,2024-01-02,true\n'
        "2,,2,2024-01-03,false\n"
        '3,"say ""hi""",,2024-01-04,\n'
    )
    harness.run_ok({"t": {"home": str(tmp_path / "in.csv"), "store": harness.parquet_sink("out")}})
    got = pq.read_table(tmp_path / "out")
    assert got.schema.types == [pa.int64(), pa.string(), pa.float64(), pa.date32(), pa.bool_()]
    assert got.sort_by("id").to_pylist() == [
        {
            "id": 1,
            "name": "Ann, the first",
            "score": 1.5,
            "joined": dt.date(2024, 1, 2),
            "active": True,
        },
        {"id": 2, "name": None, "score": 2.0, "joined": dt.date(2024, 1, 3), "active": False},
        {"id": 3, "name": 'say "hi"', "score": None, "joined": dt.date(2024, 1, 4), "active": None},
    ]


def test_dialect_options_on_both_sides(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    (tmp_path / "in.txt").write_bytes(
        "# exported 2024-05-01\n1;Søren;NA\n2;Zoë;7\n".encode("latin-1")
    )
    home = {
        "type": "csv",
        "path": str(tmp_path / "in.txt"),
        "delimiter": ";",
        "header": False,
        "skip_rows": 1,
        "encoding": "latin-1",
        "null_values": ["NA"],
        "columns": {"id": "int32", "name": "string", "n": "int64"},
    }
    store = {
        "type": "csv",
        "path": str(tmp_path / "out.tsv"),
        "encoding": "cp1252",
        "quoting": "none",
        "mode": "replace",
    }
    harness.run_ok({"t": {"home": home, "store": store}})
    written = (tmp_path / "out.tsv").read_bytes()
    # Arrow quotes the header whatever the quoting style; values follow `quoting: none`.
    assert written == '"id"\t"name"\t"n"\n1\tSøren\t\n2\tZoë\t7\n'.encode("cp1252")


def test_directory_store_compresses_parts(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    table = sample_table(500, types={"string"})
    store = {"type": "csv", "path": str(tmp_path / "lake"), "compression": "gzip"}
    harness.run_ok({"t": {"home": harness.parquet_source(table), "store": store}})
    parts = sorted((tmp_path / "lake").glob("part-*.csv.gz"))
    assert parts, list((tmp_path / "lake").iterdir())
    lines = b"".join(gzip.decompress(p.read_bytes()) for p in parts).decode().splitlines()
    assert len(lines) == 500 + len(parts)  # every part starts with its header


@pytest.mark.parametrize(("parallelism", "row"), [(1, ""), (4, "Row #3: ")])
def test_a_bad_value_names_the_file_and_the_column(
    harness, tmp_path: pathlib.Path, parallelism: int, row: str
) -> None:
    """Arrow's streaming reader (one core) does not number the row of a bad value; the
    pieces parsed side by side (three cores or more) do, counting the header as row 1."""
    (tmp_path / "in.csv").write_text("id,amount\n1,10\n2,ten\n")
    home = {"type": "csv", "path": str(tmp_path / "in.csv"), "columns": {"id": "int64",
            "amount": "int64"}}  # fmt: skip
    flow = {"home": home, "store": harness.parquet_sink(), "parallelism": parallelism}
    results = harness.run({"t": flow})
    assert results[0].status == "failed"
    assert results[0].error == (
        f"csv file {tmp_path / 'in.csv'}: in column 'amount': {row}CSV conversion error to "
        "int64: invalid value 'ten'"
    )


def test_config_errors_exit_2_naming_the_field(tmp_path: pathlib.Path) -> None:
    flows = write_flows(
        tmp_path / "flows.yaml",
        {"t": {"home": {"type": "csv", "path": "in.csv", "delimiter": ";;",
                        "columns": {"a": "int65"}}, "store": "out/"}},
    )  # fmt: skip
    done = hygge("validate", str(flows), cwd=tmp_path)
    assert done.returncode == 2
    assert "flow 't' → home → field 'delimiter': must be one character" in (done.stderr)
    assert "field 'columns': column 'a': unknown type 'int65'" in done.stderr


def test_binary_columns_are_refused_with_the_column_name(harness, tmp_path) -> None:
    table = sample_table(10, types={"binary"})
    store = {"type": "jsonl", "path": str(tmp_path / "out")}
    results = harness.run({"t": {"home": harness.parquet_source(table), "store": store}})
    assert results[0].status == "failed"
    assert "column 'binary' is binary: JSON holds text only" in (results[0].error or "")


def nested_table() -> pa.Table:
    """Lists (plain, large, fixed-size, of lists, of structs), structs and maps, with NULLs
    at every level and text that needs escaping."""
    point = pa.struct([("x", pa.float64()), ("tag", pa.string())])
    return pa.table(
        {
            "id": pa.array(range(5), pa.int64()),
            "ints": pa.array([[1, 2], None, [], [3, None], [4]], pa.list_(pa.int64())),
            "words": pa.array(
                [[["a"], []], [None], None, [['say "hi"', "c\n"]], []],
                pa.large_list(pa.list_(pa.string())),
            ),
            "pair": pa.array(
                [[1.5, 2.0], None, [3.0, 4.0], [0.0, -1.0], [1.0, 1.0]], pa.list_(pa.float64(), 2)
            ),
            "points": pa.array(
                [[{"x": 1.0, "tag": "p"}], [], None, [None], [{"x": 2.5}]], pa.list_(point)
            ),
            "who": pa.array(
                [
                    {"n": "x", "ids": [1]},
                    None,
                    {"n": None, "ids": None},
                    {"n": "é", "ids": []},
                    {"n": "y", "ids": [2, 3]},
                ]
            ),
            "attrs": pa.array(
                [[("k", 1), ("j", None)], None, [], [("tab\t", 2)], [("k", 5)]],
                pa.map_(pa.string(), pa.int64()),
            ),
        }
    )


def test_nested_columns_round_trip_through_json_lines(harness, tmp_path) -> None:
    """Parquet → JSON lines: every nested value reads back equal (a map as the object it
    was written as)."""
    table = nested_table()
    store = {"type": "jsonl", "path": str(tmp_path / "out.jsonl"), "mode": "replace"}
    harness.run_ok({"t": {"home": harness.parquet_source(table), "store": store}})
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    got = sorted((json.loads(line) for line in lines), key=lambda row: row["id"])
    assert got == as_json(table)
    assert '"words":[["a"],[]]' in lines[0]


def as_json(table: pa.Table | pa.RecordBatch) -> list[dict]:
    rows = table.to_pylist()
    for row in rows:
        row["attrs"] = None if row["attrs"] is None else dict(row["attrs"])
    return rows


def test_nested_batches_that_start_mid_array_encode_their_own_rows() -> None:
    """A sliced batch's lists point into their parent's whole child arrays."""
    from hygge_csv.jsonlines import encode

    table = nested_table()  # and a struct without members, which Parquet cannot hold
    empty = pa.array([{}, None, {}, {}, {}], pa.struct([]))
    batch = table.append_column("empty", empty).to_batches()[0]
    for start in range(batch.num_rows):
        part = batch.slice(start, 2)
        lines = encode(part).to_pybytes().decode("utf-8").splitlines()
        assert [json.loads(line) for line in lines] == as_json(part), start


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (pa.array([{1: "a"}], pa.map_(pa.int64(), pa.string())), "JSON object keys are text"),
        (pa.array([[b"x"]], pa.list_(pa.binary())), "is binary: JSON holds text only"),
        (pa.array([{"d": 1}], pa.struct([("d", pa.duration("s"))])), "durations have no JSON"),
    ],
)
def test_nested_columns_json_cannot_hold_are_refused(harness, tmp_path, column, message) -> None:
    source = harness.parquet_source(pa.table({"bad": column}))
    store = {"type": "jsonl", "path": str(tmp_path / "out")}
    results = harness.run({"t": {"home": source, "store": store}})
    assert results[0].status == "failed"
    assert "column 'bad' is " in (results[0].error or "")
    assert message in (results[0].error or "")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.jsonl"))


def test_append_with_other_columns_is_schema_drift(harness, tmp_path: pathlib.Path) -> None:
    store = {"type": "csv", "path": str(tmp_path / "lake"), "mode": "append"}
    first = sample_table(10, types={"string"})
    harness.run_ok({"t": {"home": harness.parquet_source(first, "a"), "store": store}})
    other = sample_table(10, types={"int64"})
    results = harness.run({"t": {"home": harness.parquet_source(other, "b"), "store": store}})
    assert results[0].status == "failed"
    assert "its files have columns ['id', 'string'] but the home yields ['id', 'int64']" in (
        results[0].error or ""
    )


def test_null_cursors_are_read_only_by_a_full_load(harness, tmp_path: pathlib.Path) -> None:
    src = tmp_path / "events.csv"
    src.write_text("id,at\n1,2024-01-01T10:00:00Z\n2,\n3,2024-01-01T12:00:00+02:00\n")
    home = {"type": "csv", "path": str(src), "incremental": {"cursor": "at"},
            "columns": {"id": "int64", "at": "timestamp[us, tz=UTC]"}}  # fmt: skip
    flow = {"t": {"home": home, "store": harness.parquet_sink(mode="append")}}
    assert harness.run_ok(flow)[0].rows == 3  # the first load reads every row, NULL too
    # 12:00+02:00 is 10:00Z: the cursor is the UTC instant 10:00, so a row at 10:30Z is new.
    with src.open("a") as f:
        f.write("4,\n5,2024-01-01T10:30:00Z\n6,2024-01-01T11:00:00+02:00\n")
    second = harness.run_ok(flow)[0]
    assert second.rows == 1
    got = pq.read_table(tmp_path / "sink").sort_by("id")
    assert got.column("id").to_pylist() == [1, 2, 3, 5]


def test_jsonl_home_reads_nested_objects_and_missing_keys(harness, tmp_path) -> None:
    lines = [{"id": 1, "tags": ["a"], "who": {"n": "x"}}, {"id": 2, "extra": True}]
    (tmp_path / "in.ndjson").write_text("".join(json.dumps(x) + "\n" for x in lines))
    harness.run_ok({"t": {"home": str(tmp_path / "in.ndjson"), "store": harness.parquet_sink()}})
    got = pq.read_table(tmp_path / "sink").sort_by("id").to_pylist()
    # The schema comes from the first block: keys seen anywhere in it become columns.
    assert got == [
        {"id": 1, "tags": ["a"], "who": {"n": "x"}, "extra": None},
        {"id": 2, "tags": None, "who": None, "extra": True},
    ]


def test_state_lives_beside_a_single_file(harness: FlowHarness, tmp_path: pathlib.Path) -> None:
    table = sample_table(20, types={"int64"})
    store = {"type": "csv", "path": str(tmp_path / "out" / "t.csv"), "mode": "replace"}
    harness.run_ok({"t": {"home": harness.parquet_source(table), "store": store}})
    state = json.loads((tmp_path / "out" / "_hygge" / "state" / "t.json").read_text())
    assert state["runs"][-1]["rows"] == 20
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "_hygge",
        "_hygge_staging",
        "t.csv",
    ]


@pytest.mark.parametrize("block_size", [1 << 20, 4096])
def test_text_not_in_the_encoding_fails_naming_line_and_column(
    tmp_path: pathlib.Path, block_size: int
) -> None:
    # A latin-1 file read as the default utf-8: in the first block Arrow would infer a
    # `binary` column, in a later one fail on a string column; both must name the place.
    lines = ["id,name", *(f"{i},ok{i}" for i in range(3000)), "3000,Søren"]
    (tmp_path / "in.csv").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    write_flows(
        tmp_path / "f.yaml",
        {
            "t": {
                "home": {"type": "csv", "path": "in.csv", "block_size": block_size},
                "store": {"type": "parquet", "path": "lake"},
            }
        },
    )
    done = hygge("run", "f.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert (
        f"[t] FAILED: csv file {tmp_path}/in.csv, line 3002, byte 7 of the line, column "
        "'name': the text is not valid utf-8. hint: set encoding: to the files' encoding"
        in done.stderr
    )
    assert not (tmp_path / "lake").exists() or not list((tmp_path / "lake").glob("*.parquet"))
    assert "Traceback" not in done.stdout + done.stderr
