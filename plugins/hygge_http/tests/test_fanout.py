"""Fan-out: each parent record parameterises one child stream, one work unit each."""

from __future__ import annotations

import pathlib
from typing import Any

import pyarrow as pa
from fakeapi import FakeApi

from hygge_core.testing import FlowHarness


def setup(api: FakeApi, repos: int) -> list[dict[str, Any]]:
    api.datasets["repos"] = [{"id": r, "name": f"repo{r}"} for r in range(repos)]
    want = []
    for r in range(repos):
        rows = api.generate(f"issues-repo{r}", 40 * r + 5)  # one empty-ish, one paged
        want += [{**row, "parent_name": f"repo{r}"} for row in rows]
    return want


def home(api: FakeApi, **extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "url": f"{api.url}/link/issues-{{name}}",
        "paginate": "link",
        "parent": {"url": f"{api.url}/offset/repos", "paginate": {"type": "offset", "size": 2}},
        "parent_fields": ["name"],
        **extra,
    }


def test_each_child_stream_is_a_unit_and_lands_exactly(
    api: FakeApi, tmp_path: pathlib.Path
) -> None:
    want = setup(api, 5)
    harness = FlowHarness(tmp_path)
    flows = {"f": {"home": home(api), "store": harness.parquet_sink(), "parallelism": 3}}
    result = harness.run_ok(flows)[0]
    assert result.units == 5
    got = harness.read_parquet_dir(tmp_path / "sink")
    assert got.schema.field("parent_name").type == pa.string()
    key = lambda r: (r["parent_name"], r["id"])  # noqa: E731
    assert sorted(got.to_pylist(), key=key) == sorted(want, key=key)


def test_a_child_url_naming_a_missing_field_says_which(
    api: FakeApi, tmp_path: pathlib.Path
) -> None:
    setup(api, 2)
    harness = FlowHarness(tmp_path)
    bad = home(api, url=f"{api.url}/link/issues-{{title}}", columns={"id": "int64"})
    results = harness.run({"f": {"home": bad, "store": harness.parquet_sink()}})
    assert results[0].error == (
        f"url '{api.url}/link/issues-{{title}}' uses {{title}}, which the parent record does "
        "not have (fields: name)"
    )
