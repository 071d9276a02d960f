"""hygge-amqp's stream home runs the kit's Home contract.

The stream adds its `_offset` column (dropped by `normalize`), and its incremental cursor is
always `_offset`, so the kit's cursor-column check is replaced by the same check on offsets.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from hygge_core.testing import HomeContract, need_env

from .broker import Broker, unique

# The kit's types that survive JSON exactly (binary, decimals and zoned timestamps do not).
TYPES = {"int32", "int64", "float64", "bool", "string", "timestamp", "date"}


def _type_name(t: pa.DataType) -> str:
    if pa.types.is_date32(t):
        return "date32"
    return str(t)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


class TestRabbitStreamHome(HomeContract):
    types = TYPES
    splits = False  # one unit per run: the offset range up to the end seen at plan time

    @pytest.fixture(autouse=True)
    def _broker(self) -> Iterator[None]:
        (url,) = need_env("HYGGE_TEST_RABBITMQ_URL")
        self.broker = Broker(url)
        yield
        self.broker.delete_all()

    def home_config(self, table: pa.Table, tmp_path: pathlib.Path) -> dict[str, Any]:
        stream = self.broker.declare(unique("contract"), "stream")
        self.append_rows({"stream": stream}, table, tmp_path)
        columns = {f.name: _type_name(f.type) for f in table.schema}
        return {"type": "rabbitmq", "url": self.broker.url, "stream": stream, "columns": columns}

    def append_rows(self, config: dict[str, Any], table: pa.Table, tmp_path: pathlib.Path) -> None:
        rows = (json.dumps(r, default=_plain).encode() for r in table.to_pylist())
        self.broker.publish(config["stream"], rows, raw=True)

    def normalize(self, table: pa.Table) -> pa.Table:
        if "_offset" in table.column_names:
            table = table.drop_columns(["_offset"])
        return table

    def test_incremental_reads_only_new_rows(self, harness: Any, tmp_path: pathlib.Path) -> None:
        first = self.sample(tmp_path, seed=1)
        config = self.home_config(first, tmp_path)
        flow = self._sink_flow(harness, config, mode="append")
        harness.run_ok(flow)
        more = self.sample(tmp_path, seed=2)
        more = more.set_column(0, "id", pa.array(range(self.rows, 2 * self.rows), pa.int64()))
        self.append_rows(config, more, tmp_path)
        results = harness.run_ok(flow)
        assert results[0].rows == self.rows, "the second run must read only the new offsets"
        self.assert_same(
            harness.read_parquet_dir(tmp_path / "sink"), pa.concat_tables([first, more])
        )
