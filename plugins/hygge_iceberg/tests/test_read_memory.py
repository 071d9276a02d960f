"""The Iceberg home reads a plain data file itself, within the unit's reader share and
counted; what needs pyiceberg's reader (a row filter, delete files, an evolved column) is
still read by it. Both give the same rows."""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import pyarrow as pa
import pytest
from hygge_iceberg.home import IcebergHome
from pyiceberg.catalog.sql import SqlCatalog

from hygge_core import Window
from hygge_core.context import FlowContext
from hygge_core.memory import FlowMemory
from hygge_core.plugins import load_registry
from hygge_core.storage import StorageResolver

MB = 1 << 20
# Beside its buffer pyarrow decodes a data page per column, compressed and decompressed
# (measured 2.5-2.7 MiB a column), and holds the column's dictionary page: pyiceberg's
# writer tries a dictionary of up to 2 MiB first. Neither is counted by `read_buffer`.
PAGE_BYTES = 3 * MB + 2 * MB
ROWS = 600_000


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    # 8 columns of random 32-byte values (column chunks of 19 MiB snappy cannot shrink)
    # and an id, in one data file of one row group.
    wh = tmp_path_factory.mktemp("wh")
    rng = np.random.default_rng(3)
    columns = {"id": pa.array(np.arange(ROWS), pa.int64())}
    for i in range(8):
        values = pa.py_buffer(rng.bytes(ROWS * 32))
        columns[f"b{i}"] = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(32), ROWS, [None, values]
        ).cast(pa.binary())
    table = pa.table(columns)
    catalog = SqlCatalog("hygge", uri=f"sqlite:///{wh}/catalog.db", warehouse=f"file://{wh}")
    catalog.create_namespace("lake")
    catalog.create_table("lake.t", schema=table.schema).append(table)
    return wh


def home_of(wh: pathlib.Path, **config: object) -> IcebergHome:
    ctx = FlowContext(flow="f", run_id="r", storage=StorageResolver(load_registry().storages))
    ctx.memory = FlowMemory(128 * MB)
    model = IcebergHome.config_model.model_validate(
        {"type": "iceberg", "warehouse": str(wh), "table": "lake.t", **config}
    )
    return IcebergHome(model, ctx)  # type: ignore[arg-type]


def read_all(home: IcebergHome, window: Window | None = None) -> pa.Table:
    units = [dataclasses.replace(u, window=window) for u in home.plan(window)]
    return pa.Table.from_batches([b for u in units for b in home.read(u)])


def test_a_plain_data_file_is_read_within_the_reader_share(warehouse: pathlib.Path) -> None:
    home = home_of(warehouse, batch_rows=8192)
    memory = home.context.memory
    rows = beside = 0
    for unit in home.plan(None):
        base = pa.total_allocated_bytes()
        for batch in home.read(unit):
            beside = max(beside, pa.total_allocated_bytes() - base - batch.nbytes)
            rows += batch.num_rows
            del batch
    assert rows == ROWS
    # pyiceberg's reader pre-buffers the whole row group (169 MiB beside the batch, measured)
    # and decodes batches ahead; read directly, the unit holds its share and its pages
    # (60 MiB).
    assert beside <= memory.share.reader + 9 * PAGE_BYTES + 4 * MB, f"{beside / MB:.1f} MiB"
    assert memory.peak == memory.share.reader == 16 * MB and memory.held == 0


def test_the_same_rows_as_pyiceberg_reads(warehouse: pathlib.Path) -> None:
    catalog = SqlCatalog(
        "hygge", uri=f"sqlite:///{warehouse}/catalog.db", warehouse=f"file://{warehouse}"
    )
    expected = catalog.load_table("lake.t").scan().to_arrow()
    expected = expected.cast(
        pa.schema([pa.field(f.name, pa.binary()) if f.name != "id" else f for f in expected.schema])
    )
    assert read_all(home_of(warehouse)).sort_by("id").equals(expected.sort_by("id"))
    # An incremental window is read directly too: the home filters on the cursor itself.
    home = home_of(warehouse)
    after = read_all(home, Window(cursor="id", after=ROWS - 1000))
    assert after.sort_by("id").equals(
        expected.filter(pa.compute.greater(expected["id"], ROWS - 1000))
    )
    assert home.context.memory.peak == home.context.memory.share.reader
    # A `filter:` needs pyiceberg's reader: it reads the same rows, uncounted.
    home = home_of(warehouse, filter="id < 1000")
    wanted = expected.filter(pa.compute.less(expected["id"], 1000))
    assert read_all(home).sort_by("id").equals(wanted)
    assert home.context.memory.peak == 0
