"""hygge-http runs the kit: the home as every home must behave, served by the fake API."""

from __future__ import annotations

import datetime as dt
import decimal
import pathlib
from typing import Any

import pyarrow as pa
import pytest
from fakeapi import FakeApi

from hygge_core.testing import HomeContract


def as_json(value: Any) -> Any:
    """A value as a JSON API writes it: times, dates and decimals as text."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def type_name(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "timestamp_tz" if t.tz else "timestamp"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision}, {t.scale})"
    return str(t)


class TestHttpHome(HomeContract):
    splits = False  # one stream without parent: (fan-out splits: test_fanout.py)

    @pytest.fixture(autouse=True)
    def _serve(self, api: FakeApi) -> None:
        self.api = api

    def home_config(self, table: pa.Table, tmp_path: pathlib.Path) -> dict[str, Any]:
        name = f"t{len(self.api.datasets)}"
        self.api.datasets[name] = [
            {k: as_json(v) for k, v in row.items()} for row in table.to_pylist()
        ]
        return {
            "type": "http",
            "url": f"{self.api.url}/page/{name}",
            "paginate": {"type": "page", "size": 70},
            "records": "items",
            "columns": {f.name: type_name(f.type) for f in table.schema},
        }

    def append_rows(self, config: dict[str, Any], table: pa.Table, tmp_path: pathlib.Path) -> None:
        name = config["url"].rsplit("/", 1)[1]
        self.api.datasets[name] += [
            {k: as_json(v) for k, v in row.items()} for row in table.to_pylist()
        ]
