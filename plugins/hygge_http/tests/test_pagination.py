"""Every pagination style lands exactly the server's records."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pyarrow as pa
import pytest
from fakeapi import FakeApi

from hygge_core.testing import FlowHarness

N = 2_345  # not a multiple of any page size: the last page is short
COLUMNS = {
    "id": "int64",
    "name": "string",
    "price": "float64",
    "active": "bool",
    "tags": "string",
    "updated_at": "timestamp_tz",
}

STYLES: dict[str, tuple[str, Any, str | None]] = {
    "link": ("link", "link", None),
    "next_url": ("next_url", {"type": "next_url", "path": "links.next"}, "data"),
    "cursor": ("cursor", {"type": "cursor", "path": "meta.next_cursor"}, "data"),
    "page": ("page", {"type": "page", "size": 100}, "items"),
    "page_total": ("page", {"type": "page", "total": "total"}, "items"),
    "offset": ("offset", {"type": "offset", "size": 250, "total": "count"}, "results"),
    "offset_empty": ("offset", {"type": "offset", "size": 100}, "results"),
}


def expected(api: FakeApi, name: str = "items") -> pa.Table:
    table = pa.Table.from_pylist(api.datasets[name])
    return table.set_column(
        5, "updated_at", table.column("updated_at").cast(pa.timestamp("us", tz="UTC"))
    )


def http_home(api: FakeApi, style: str, paginate: Any, records: str | None) -> dict[str, Any]:
    home: dict[str, Any] = {"type": "http", "url": f"{api.url}/{style}/items"}
    home["paginate"] = paginate
    if records:
        home["records"] = records
    return home


@pytest.mark.parametrize("case", list(STYLES))
def test_each_style_lands_every_record(api: FakeApi, tmp_path: pathlib.Path, case: str) -> None:
    api.generate("items", N)
    style, paginate, records = STYLES[case]
    harness = FlowHarness(tmp_path)
    home = {**http_home(api, style, paginate, records), "columns": COLUMNS}
    results = harness.run_ok({"f": {"home": home, "store": harness.parquet_sink()}})
    got = harness.read_parquet_dir(tmp_path / "sink").sort_by("id")
    assert got.equals(expected(api)), case
    assert results[0].rows == N
    pages = len([r for r in api.requests if f"/{style}/items" in r])
    assert pages <= N // 100 + 2, f"{case}: {pages} requests for {N} records"


def test_types_are_inferred_from_the_first_page(api: FakeApi, tmp_path: pathlib.Path) -> None:
    api.generate("items", 450)
    harness = FlowHarness(tmp_path)
    home = http_home(api, "link", "link", None)
    harness.run_ok({"f": {"home": home, "store": harness.parquet_sink()}})
    got = harness.read_parquet_dir(tmp_path / "sink").sort_by("id")
    assert got.schema.field("id").type == pa.int64()
    assert got.schema.field("active").type == pa.bool_()
    assert got.to_pylist() == api.datasets["items"]


def test_a_later_page_that_disagrees_names_page_record_field_and_value(
    api: FakeApi, tmp_path: pathlib.Path
) -> None:
    rows = api.generate("items", 250)
    rows[230]["price"] = "n/a"  # page 3 of 100
    harness = FlowHarness(tmp_path)
    home = http_home(api, "link", "link", None)
    results = harness.run({"f": {"home": home, "store": harness.parquet_sink()}})
    assert results[0].status == "failed"
    assert results[0].error == (
        f"page 3 of GET {api.url}/link/items?per_page=100&page=3: record 31, field 'price' "
        "is str 'n/a', which is not a double (the column's type, inferred from page 1 of "
        f"GET {api.url}/link/items); declare the field in columns: "
        "(e.g. columns: {price: string}) or fix the API"
    )
    assert not list(tmp_path.glob("sink/*.parquet")), "a failed run published data"


def test_max_pages_stops_early(api: FakeApi, tmp_path: pathlib.Path) -> None:
    api.generate("items", 1000)
    harness = FlowHarness(tmp_path)
    home = {**http_home(api, "link", {"type": "link", "max_pages": 3}, None), "columns": COLUMNS}
    results = harness.run_ok({"f": {"home": home, "store": harness.parquet_sink()}})
    assert results[0].rows == 300


def test_post_sends_the_body_on_every_page(api: FakeApi, tmp_path: pathlib.Path) -> None:
    api.generate("items", 700)
    harness = FlowHarness(tmp_path)
    home = http_home(api, "page", {"type": "page", "size": 100}, "items")
    home.update(method="POST", body={"active": True}, columns=COLUMNS)
    harness.run_ok({"f": {"home": home, "store": harness.parquet_sink()}})
    got = harness.read_parquet_dir(tmp_path / "sink").sort_by("id")
    want = [r for r in api.datasets["items"] if r["active"]]
    assert got.column("id").to_pylist() == [r["id"] for r in want]
    assert all(json.loads(r.split(" ", 2)[2]) == {"active": True} for r in api.requests)
    assert len(api.requests) == 5  # 467 records: 4 full pages and a short one


def test_a_field_the_first_page_lacked_is_not_dropped_unseen(
    api: FakeApi, tmp_path: pathlib.Path
) -> None:
    rows = api.generate("items", 250)
    rows[150]["discount"] = 0.5  # page 2 of 100
    harness = FlowHarness(tmp_path)
    home = http_home(api, "link", "link", None)
    results = harness.run({"f": {"home": home, "store": harness.parquet_sink()}})
    assert results[0].error == (
        f"page 2 of GET {api.url}/link/items?page=2&per_page=100: record 51 has field "
        "'discount' (0.5), which is not among the columns (inferred from page 1 of GET "
        f"{api.url}/link/items); list the fields to keep in columns: (fields not listed "
        "there are left out)"
    )
    home["columns"] = {"id": "int64", "discount": "float64"}
    harness.run_ok({"f": {"home": home, "store": harness.parquet_sink()}})
    got = harness.read_parquet_dir(tmp_path / "sink").sort_by("id")
    assert got.column("discount").drop_null().to_pylist() == [0.5]
