"""`transform:`: every built-in on real data (NULLs, unicode, decimals, tz-aware timestamps),
the expression language, and errors that point at flows.yaml's line and the column."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import pickle
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core.expr import ExprError, compile_expr, parse
from hygge_core.plugins import load_registry
from hygge_core.transforms import RunInfo
from tests.conftest import run_cli

UTC = dt.UTC
RUN = RunInfo("20260101T000000000Z-abc123", dt.datetime(2026, 1, 1, tzinfo=UTC))


def rows() -> pa.RecordBatch:
    return pa.record_batch(
        {
            "OrderID": pa.array([1, 2, 3, None], pa.int64()),
            "Customer Name": ["Åsa", "李雷", None, "Zoë"],
            "amount": pa.array(
                [Decimal("10.50"), None, Decimal("-1.25"), Decimal("3.00")], pa.decimal128(9, 2)
            ),
            "placed": pa.array(
                [dt.datetime(2026, 3, d, 8, tzinfo=UTC) for d in (1, 2, 3, 4)],
                pa.timestamp("us", tz="Europe/Copenhagen"),
            ),
            "qty": ["1", "2", "x", None],
        }
    )


def apply(name: str, value: Any, batch: pa.RecordBatch | None = None) -> pa.RecordBatch:
    cls = load_registry().transforms[name]
    t = cls(cls.config_model.model_validate(cls.normalize(value)))
    t = pickle.loads(pickle.dumps(t))  # what a Dask worker gets
    return t.apply(rows() if batch is None else batch, RUN)


def test_select_drop_rename() -> None:
    assert apply("select", ["amount", "OrderID"]).schema.names == ["amount", "OrderID"]
    assert apply("drop", ["qty", "placed"]).schema.names == ["OrderID", "Customer Name", "amount"]
    assert apply("rename", {"OrderID": "id"}).schema.names[0] == "id"
    assert apply("rename", {"case": "snake"}).schema.names == [
        "order_id",
        "customer_name",
        "amount",
        "placed",
        "qty",
    ]
    assert apply("rename", {"case": "upper"}).schema.names[1] == "CUSTOMER NAME"


def test_rename_refuses_two_columns_of_one_name() -> None:
    with pytest.raises(ValueError, match="columns 'OrderID' and 'qty' would both be named 'x'"):
        apply("rename", {"OrderID": "x", "qty": "x"})


def test_cast_fail_names_the_column_and_value() -> None:
    with pytest.raises(ValueError) as err:
        apply("cast", {"qty": "int64"})
    assert str(err.value) == (
        "cast: column 'qty': value 'x' (row 3 of its batch) cannot become int64; fix the data, "
        "or set on_error: null to load such values as NULL"
    )


def test_cast_on_error_null_and_types() -> None:
    out = apply(
        "cast",
        {"columns": {"qty": "int32", "amount": "decimal(12, 3)", "placed": "timestamp[ms, UTC]"},
         "on_error": "null"},
    )  # fmt: skip
    assert out.column("qty").to_pylist() == [1, 2, None, None]
    assert out.schema.field("amount").type == pa.decimal128(12, 3)
    assert out.column("amount").to_pylist()[0] == Decimal("10.500")
    assert out.schema.field("placed").type == pa.timestamp("ms", tz="UTC")


def test_filter_derive_constant() -> None:
    kept = apply("filter", 'amount > 0 and "Customer Name" is not null')
    assert kept.column("Customer Name").to_pylist() == ["Åsa", "Zoë"]
    out = apply(
        "derive",
        {"total": "amount * 2", "who": "upper(\"Customer Name\") || '!'", "d": "day(placed)"},
    )
    assert out.column("total").to_pylist() == [Decimal("21.00"), None, Decimal("-2.50"),
                                               Decimal("6.00")]  # fmt: skip
    assert out.column("who").to_pylist() == ["ÅSA!", "李雷!", None, "ZOË!"]
    assert out.column("d").to_pylist() == [1, 2, 3, 4]
    const = apply("constant", {"source": "crm", "version": 3})
    assert const.column("source").to_pylist() == ["crm"] * 4
    assert const.column("version").type == pa.int64()


def test_hash_is_stable_and_mask_keeps_nulls() -> None:
    out = apply("hash", {"column": "key", "columns": ["OrderID", "Customer Name"]})
    # Fixed values: an id must not change between hygge versions (docs/transforms.md).
    assert out.column("key").to_pylist()[0] == "5e56d2effa57ca6d1763f239ae2e6f8b"
    assert len(set(out.column("key").to_pylist())) == 4
    short = apply("hash", {"column": "key", "columns": ["OrderID"], "bits": 64})
    assert [len(k) for k in short.column("key").to_pylist()] == [16] * 4
    masked = apply("mask", ["Customer Name"])
    values = masked.column("Customer Name").to_pylist()
    assert values[2] is None and len(values[0]) == 16 and values[0] != "Åsa"
    salted = apply("mask", {"columns": ["Customer Name"], "salt": "pepper"})
    assert salted.column("Customer Name").to_pylist()[0] != values[0]
    redacted = apply("mask", {"columns": ["Customer Name", "amount"], "method": "redact"})
    assert redacted.column("Customer Name").to_pylist() == ["***", "***", None, "***"]
    assert redacted.column("amount").to_pylist() == [None] * 4


def test_hash_of_equal_values_is_equal_across_batches_and_types() -> None:
    a = apply("hash", {"column": "k", "columns": ["s"]}, pa.record_batch({"s": ["x", "yy", ""]}))
    b = apply(
        "hash",
        {"column": "k", "columns": ["s"]},
        pa.record_batch({"s": pa.array(["", "yy", "x"], pa.large_string())}),
    )
    assert a.column("k").to_pylist() == b.column("k").to_pylist()[::-1]


def test_load_metadata() -> None:
    out = apply("load_metadata", True)
    assert out.column("_hygge_run_id").to_pylist() == [RUN.run_id] * 4
    assert out.schema.field("_hygge_loaded_at").type == pa.timestamp("us", tz="UTC")
    assert out.column("_hygge_loaded_at").to_pylist()[0] == RUN.started


def test_constant_columns_are_one_array_per_run_and_value() -> None:
    """Load metadata and constants are made once and shared by every batch (sliced for a
    shorter one); another run, or another value, gets its own; a copy from a worker too."""
    cls = load_registry().transforms["load_metadata"]
    t = cls(cls.config_model.model_validate(cls.normalize(True)))
    big = t.apply(pa.record_batch({"i": list(range(5))}), RUN)
    small = t.apply(pa.record_batch({"i": [1, 2]}), RUN)
    assert small.column("_hygge_run_id").to_pylist() == [RUN.run_id] * 2
    shared = big.column("_hygge_run_id").buffers()[2].address
    assert small.column("_hygge_run_id").buffers()[2].address == shared  # no copy
    later = RunInfo("20260102T000000000Z-def456", dt.datetime(2026, 1, 2, tzinfo=UTC))
    again = t.apply(pa.record_batch({"i": [1, 2, 3]}), later)
    assert again.column("_hygge_run_id").to_pylist() == [later.run_id] * 3
    assert again.column("_hygge_loaded_at").to_pylist() == [later.started] * 3
    longer = t.apply(pa.record_batch({"i": list(range(9))}), later)
    assert longer.column("_hygge_run_id").to_pylist() == [later.run_id] * 9
    worker = pickle.loads(pickle.dumps(t))
    assert worker.apply(small, RUN).column("_hygge_run_id").to_pylist() == [RUN.run_id] * 2
    const = apply("constant", {"v": 1}, pa.record_batch({"i": [1]}))
    assert const.column("v").to_pylist() == [1]
    other = apply("constant", {"v": "one"}, pa.record_batch({"i": [1, 2]}))
    assert other.column("v").to_pylist() == ["one", "one"]


def test_cast_to_the_type_a_column_has_is_no_copy() -> None:
    batch = pa.record_batch({"n": pa.array([1, None], pa.int64()), "s": ["1", "2"]})
    same = apply("cast", {"n": "int64"}, batch)
    assert same is not None and same.column("n").buffers()[1].address == (
        batch.column("n").buffers()[1].address
    )
    mixed = apply("cast", {"n": "int64", "s": "int32"}, batch)
    assert mixed.schema.field("s").type == pa.int32() and mixed.column("s").to_pylist() == [1, 2]
    assert mixed.column("n").to_pylist() == [1, None]


# -- the expression language --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("7 % 3", 1),
        ("-2 * -3", 6),
        ("'a' || 'b' || 1", "ab1"),
        ("1 < 2 and not 2 < 1", True),
        ("1 = 2 or 2 = 2", True),
        ("3 between 1 and 3", True),
        ("'b' in ('a', 'b')", True),
        ("'b' not in ('a', 'b')", False),
        ("null is null", True),
        ("coalesce(null, 4)", 4),
        ("if(1 > 2, 'y', 'n')", "n"),
        ("lower('ÅSA')", "åsa"),
        ("length('李雷')", 2),
        ("substr('hygge', 2, 3)", "ygg"),
        ("'Abc' like 'A%'", True),
        ("matches('a1', '^[a-z][0-9]$')", True),
        ("year(timestamp '2024-05-01T10:00:00+02:00')", 2024),
        ("decimal '1.10' + 1", Decimal("2.10")),
    ],
)
def test_expressions(text: str, expected: Any) -> None:
    batch = pa.record_batch({"x": [1]})
    value = compile_expr(text)(batch)
    assert value.as_py() == expected


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        ("amount >", "expected a value, a column or '(', found 'the end of the expression'", 8),
        ("amount > > 1", "expected a value, a column or '(', found '>'", 9),
        ("amonut > 1", "unknown column 'amonut'; did you mean 'amount'?", 0),
        ("lowr(x)", "unknown function 'lowr'; did you mean 'lower'?", 0),
        ("'abc", "unterminated quote", 0),
        ("a ! b", "unexpected character '!'", 2),
        ("amount + 'x'", "cannot evaluate '+ 'x'': ", 7),
    ],
)
def test_expression_errors(text: str, message: str, offset: int) -> None:
    schema = pa.schema([("amount", pa.decimal128(9, 2)), ("x", pa.string())])
    with pytest.raises(ExprError) as err:
        compile_expr(text, schema)
    assert err.value.message.startswith(message), err.value.message
    assert err.value.offset == offset


def test_no_python_eval() -> None:
    with pytest.raises(ExprError):
        parse("__import__('os').system('true')")


# -- end to end ---------------------------------------------------------------------------


def write(tmp_path: pathlib.Path, steps: str, store: str | None = None) -> pathlib.Path:
    (tmp_path / "in").mkdir(exist_ok=True)
    pq.write_table(pa.Table.from_batches([rows()]), tmp_path / "in" / "o.parquet")
    path = tmp_path / "flows.yaml"
    path.write_text(
        f"flows:\n  orders:\n    home: {tmp_path}/in/\n"
        f"    store: {store or str(tmp_path) + '/out/'}\n{steps}"
    )
    return path


def test_a_chain_lands_transformed_rows(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "    transform:\n"
        "      - rename: {case: snake}\n"
        "      - cast: {columns: {qty: int64}, on_error: null}\n"
        "      - filter: order_id is not null\n"
        "      - derive: {total: amount * qty}\n"
        "      - drop: [placed]\n"
        "      - load_metadata: [run_id]\n",
    )
    done = run_cli("run", str(path))
    assert done.code == 0, done.text
    landed = pq.read_table(tmp_path / "out")
    assert landed.column_names == [
        "order_id", "customer_name", "amount", "qty", "total", "_hygge_run_id",
    ]  # fmt: skip
    assert landed.column("total").to_pylist() == [Decimal("10.50"), None, None]
    assert landed.num_rows == 3


def test_a_bad_expression_is_reported_at_its_line(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path, "    transform:\n      - rename: {case: snake}\n      - filter: amount >\n"
    )
    done = run_cli("validate", str(path))
    assert done.code == 2, done.text
    assert (
        f"{path}:7:17: flow 'orders' → transform[2] → field 'filter': expected a value, a "
        "column or '(', found 'the end of the expression' (at character 9 of 'amount >')"
    ) in done.err
    assert "Traceback" not in done.text


def test_an_unknown_transform_gets_a_close_match(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "    transform:\n      - renam: {a: b}\n")
    done = run_cli("validate", str(path))
    assert done.code == 2
    assert f"{path}:6:9: flow 'orders' → transform[1] → field 'renam': unknown transform " in (
        done.err
    )
    assert "did you mean 'rename'?" in done.err


def test_a_missing_column_fails_before_any_data_moves(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "    transform:\n      - select: [OrderID, amout]\n")
    done = run_cli("run", str(path))
    assert done.code == 1
    assert (
        f"[orders] FAILED: flow orders: select (transform 1, {path}:6): select: column "
        "'amout' does not exist; did you mean 'amount'?"
    ) in done.err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.parquet"))


def test_cast_failure_aborts_the_flow(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "    transform:\n      - cast: {qty: int64}\n")
    done = run_cli("run", str(path))
    assert done.code == 1
    assert "cast (transform 1, " in done.err and "value 'x' (row 3 of its batch)" in done.err


def test_merge_keys_are_checked_against_the_transformed_rows(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "lake.db"
    store = f"{{type: sql, url: 'sqlite:///{db}', table: orders, mode: merge, keys: [OrderID]}}"
    path = write(tmp_path, "    transform:\n      - rename: {case: snake}\n", store)
    done = run_cli("run", str(path))
    assert done.code == 1, done.text
    assert (
        "merge key 'OrderID' (store keys:) is not a column of the rows after the flow's "
        "transforms; did you mean 'order_id'?"
    ) in done.err


def test_preview_shows_transformed_rows_and_check_results(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "    transform:\n      - rename: {case: snake}\n      - filter: amount > 0\n"
        "    checks:\n      - not_null: [customer_name]\n"
        "      - range: {column: amount, max: 5, severity: warn}\n",
    )
    done = run_cli("preview", str(path), "--flow", "orders")
    assert done.code == 0, done.text
    assert "(transformed)" in done.out and "customer_name" in done.out
    assert "Åsa" in done.out and "Zoë" in done.out and "李雷" not in done.out
    assert f"ok: check not_null(customer_name) ({path}:9): 0 of 2 row(s) fail" in done.out
    assert (
        f"warn: check range(amount) ({path}:10): 1 of 2 row(s) fail, e.g. amount=10.50 "
        "(on the 2 sample rows)"
    ) in done.out


def test_an_incremental_cursor_advances_past_rows_a_filter_drops(tmp_path: pathlib.Path) -> None:
    """The cursor names a home column (the home filters on it) and its high-water mark is
    taken before the transforms: rows a filter drops are not read again next run."""
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"Seq": [1, 2, 3], "keep": [True, True, False]}),
                   tmp_path / "in" / "a.parquet")  # fmt: skip
    path = tmp_path / "flows.yaml"
    path.write_text(
        f"flows:\n  inc:\n    home: {{type: parquet, path: {tmp_path}/in/, "
        "incremental: {cursor: Seq}}\n"
        f"    store: {tmp_path}/out/\n"
        "    transform:\n      - filter: keep\n      - rename: {case: snake}\n"
    )
    first = run_cli("run", str(path))
    assert first.code == 0, first.text
    assert pq.read_table(tmp_path / "out").column("seq").to_pylist() == [1, 2]
    state = run_cli("state", "show", str(path), "--json")
    assert json.loads(state.out)["inc"]["cursor"]["value"] in (3, "3")
    pq.write_table(pa.table({"Seq": [4], "keep": [True]}), tmp_path / "in" / "b.parquet")
    second = run_cli("run", str(path))
    assert second.code == 0, second.text
    assert sorted(pq.read_table(tmp_path / "out").column("seq").to_pylist()) == [1, 2, 4]


def test_validate_connect_tries_the_steps_on_the_homes_columns(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "    checks:\n      - not_null: [order_id]\n")
    done = run_cli("validate", str(path), "--connect")
    assert done.code == 1
    assert (
        f"orders: home parquet {tmp_path}/in/: flow orders: check not_null(order_id) "
        f"({path}:6): column 'order_id' is not in the transformed rows; columns: OrderID, "
        "Customer Name, amount, placed, qty"
    ) in done.out
