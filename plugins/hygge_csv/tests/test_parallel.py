"""One CSV file parsed in pieces on several cores: the pieces end where Arrow's rows end,
and the file reads back exactly as Arrow's own serial reader reads it."""

from __future__ import annotations

import io
import pathlib
import random

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hygge_csv.parallel import ParallelCsv
from hygge_csv.rowends import IRREGULAR, last_row_end

from hygge_core.testing import FlowHarness

COMMA, QUOTE = ord(","), ord('"')


def arrow_rows(data: bytes) -> list[dict]:
    """Rows as Arrow's serial reader parses `data` (header-less, two text columns)."""
    if not data:
        return []
    return pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(column_names=["a", "b"], use_threads=False),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={"a": pa.string(), "b": pa.string()}),
    ).to_pylist()


@pytest.mark.parametrize(
    ("data", "end"),
    [
        (b"1,x\n2,y\n", 8),
        (b"1,x\n2,y", 4),
        (b"1,x", 0),
        (b'1,"a\nb"\n2,y\n', 12),
        (b'1,x\n2,"a\nb', 4),  # the second newline is inside a quoted value
        (b'1,"a""\nb"\n', 10),  # a doubled quote does not close the value
        (b'1,""\n2,"""x"\n', 13),
        (b'"1","a"\r\n"2","b"\r\n', 18),
        (b'1,5" disk\n2,y\n', IRREGULAR),  # a quote Arrow reads as text
        (b'1,"a"b\n2,y\n', IRREGULAR),  # text after a closing quote
    ],
)
def test_last_row_end(data: bytes, end: int) -> None:
    assert last_row_end(data, COMMA, QUOTE) == end


def test_without_a_quote_character_every_newline_ends_a_row() -> None:
    assert last_row_end(b'1,"a\nb"\n', COMMA, None) == 8


def test_every_cut_it_finds_is_where_arrow_ends_a_row() -> None:
    """Random files of quotes, delimiters and newlines, written by Arrow's CSV writer (so
    quoted as needed) and cut at every length: a cut never splits a row Arrow reads."""
    rng = random.Random(7)
    alphabet = 'ab,"\n\r '
    checked = 0
    for _ in range(60):
        values = ["".join(rng.choices(alphabet, k=rng.randint(0, 6))) for _ in range(16)]
        out = io.BytesIO()
        table = pa.table({"a": values[:8], "b": values[8:]})
        pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False))
        data = out.getvalue()
        whole = arrow_rows(data)
        assert whole == table.to_pylist()
        for length in range(1, len(data) + 1):
            end = last_row_end(data[:length], COMMA, QUOTE)
            assert end != IRREGULAR
            if end:
                assert arrow_rows(data[:end]) + arrow_rows(data[end:]) == whole, (data, end)
                checked += 1
    assert checked > 1000


def orders_csv(rows: int) -> bytes:
    """Text with quoted newlines, delimiters and doubled quotes among plain values."""
    lines = ["id,note,amount"]
    for i in range(rows):
        note = '"line one\nline ""two"", with a comma"' if i % 7 == 0 else f"plain {i}"
        lines.append(f"{i},{note},{i * 1.5}")
    return ("\n".join(lines) + "\n").encode()


TYPES = pa.schema([("id", pa.int64()), ("note", pa.string()), ("amount", pa.float64())])


def parallel(data: bytes, block: int, workers: int = 3) -> ParallelCsv:
    return ParallelCsv(
        pacsv.ReadOptions(block_size=block),
        pacsv.ParseOptions(newlines_in_values=True),
        pacsv.ConvertOptions(column_types=TYPES),
        workers,
    )


def test_pieces_read_exactly_what_the_serial_reader_reads() -> None:
    data = orders_csv(20_000)
    reader = parallel(data, 4096)
    batches = list(reader.batches(pa.BufferReader(data)))
    assert reader.rest is None
    assert len(batches) > 50  # many pieces, parsed three at a time
    got = pa.Table.from_batches(batches)
    assert got.equals(pacsv.read_csv(pa.py_buffer(data), convert_options=reader.convert))


def test_a_bad_row_is_numbered_from_the_start_of_the_file() -> None:
    data = orders_csv(20_000).replace(b"\n15000,plain 15000,", b"\n15000,plain 15000,x")
    whole = pacsv.ReadOptions(use_threads=False, block_size=len(data))  # numbers its rows
    with pytest.raises(pa.ArrowInvalid) as serial:
        pacsv.read_csv(
            pa.py_buffer(data), whole, convert_options=pacsv.ConvertOptions(column_types=TYPES)
        )
    reader = parallel(data, 4096)
    with pytest.raises(pa.ArrowInvalid) as error:
        list(reader.batches(pa.BufferReader(data)))
    assert str(serial.value).startswith("In CSV column #2: Row #15002: ")
    assert str(error.value) == str(serial.value)


def test_quotes_it_cannot_count_leave_the_rest_to_the_serial_reader() -> None:
    data = orders_csv(20_000).replace(b"\n12000,plain 12000,", b'\n12000,a 5" disk,')
    reader = parallel(data, 4096)
    head = pa.Table.from_batches(list(reader.batches(pa.BufferReader(data))), schema=TYPES)
    assert reader.rest is not None
    rest = pacsv.read_csv(
        pa.py_buffer(reader.rest.read()), reader.rest_options(), reader.parse, reader.convert
    )
    whole = pacsv.read_csv(pa.py_buffer(data), convert_options=reader.convert)
    assert 0 < head.num_rows < 12_000
    assert pa.concat_tables([head, rest]).equals(whole)


@pytest.mark.parametrize(("parallelism", "literal_quote"), [(1, False), (4, False), (4, True)])
def test_a_flow_lands_the_same_rows_on_one_core_or_four(
    tmp_path: pathlib.Path, parallelism: int, literal_quote: bool
) -> None:
    """Four cores parse pieces three at a time; a quote it cannot count (row 30,000) sends
    the rest of the file to the serial reader, exactly."""
    data = orders_csv(50_000)
    if literal_quote:
        data = data.replace(b"\n30001,plain 30001,", b'\n30001,a 5" disk,')
    src = tmp_path / "in.csv"
    src.write_bytes(data)
    harness = FlowHarness(tmp_path)
    home = {"type": "csv", "path": str(src), "block_size": 16384,
            "columns": {"id": "int64", "note": "string", "amount": "float64"}}  # fmt: skip
    out = tmp_path / "out"
    flow = {
        "home": home,
        "store": {"type": "parquet", "path": str(out)},
        "parallelism": parallelism,
    }
    [result] = harness.run({"t": flow})
    assert result.status == "ok", result.error
    landed = pq.read_table(out).sort_by("id")
    expected = pacsv.read_csv(src, convert_options=pacsv.ConvertOptions(column_types=TYPES))
    assert landed.num_rows == 50_000
    assert landed.equals(expected.cast(landed.schema))


def test_a_bad_value_in_a_flow_names_its_row(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(orders_csv(50_000).replace(b"\n40000,plain 40000,", b"\n40000,plain 40000,x"))
    home = {"type": "csv", "path": str(src), "block_size": 16384,
            "columns": {"id": "int64", "note": "string", "amount": "float64"}}  # fmt: skip
    store = {"type": "parquet", "path": str(tmp_path / "out")}
    [result] = FlowHarness(tmp_path).run({"t": {"home": home, "store": store, "parallelism": 4}})
    assert result.status == "failed"
    assert result.error == (
        f"csv file {src}: in column 'amount': Row #40002: CSV conversion error to double: "
        "invalid value 'x60000.0'"
    )
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.parquet"))


def gzip_bytes(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, compresslevel=1)


DIALECTS = {
    # name: (file suffix, how the bytes are written, extra home options)
    "gzip": (".csv.gz", gzip_bytes, {}),
    "crlf and a BOM": (".csv", lambda d: b"\xef\xbb\xbf" + d.replace(b"\n", b"\r\n"), {}),
    "semicolons": (".csv", lambda d: d.replace(b",", b";"), {"delimiter": ";"}),
    "no header": (".csv", lambda d: d.split(b"\n", 1)[1], {"header": False}),
}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_pieces_follow_the_dialect(tmp_path: pathlib.Path, dialect: str) -> None:
    """Compressed, CRLF with a byte-order mark, another delimiter, no header line: four
    cores land exactly the rows one core does."""
    suffix, write, options = DIALECTS[dialect]
    text = orders_csv(30_000)
    if dialect == "semicolons":  # the comma inside the quoted notes stays a comma
        text = text.replace(b", with a comma", b"\x00")
    data = write(text)
    if dialect == "semicolons":
        data = data.replace(b"\x00", b", with a comma")
    src = tmp_path / f"in{suffix}"
    src.write_bytes(data)
    columns = {"id": "int64", "note": "string", "amount": "float64"}
    landed = {}
    for parallelism in (1, 4):
        home = {"type": "csv", "path": str(src), "block_size": 8192, "columns": columns,
                **options}  # fmt: skip
        out = tmp_path / f"out{parallelism}"
        flow = {"home": home, "store": {"type": "parquet", "path": str(out)},
                "parallelism": parallelism}  # fmt: skip
        [result] = FlowHarness(tmp_path).run({"t": flow})
        assert result.status == "ok", result.error
        landed[parallelism] = pq.read_table(out).sort_by("id")
    assert landed[1].num_rows == 30_000
    assert landed[4].equals(landed[1])
    notes = landed[4].column("note").to_pylist()
    newline = "\r\n" if dialect.startswith("crlf") else "\n"  # kept inside a quoted value
    assert notes[7] == f'line one{newline}line "two", with a comma' and notes[8] == "plain 8"
