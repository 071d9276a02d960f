"""What the Delta home holds while it reads a data file: its column buffers stay within the
unit's reader share (`hygge_core.files.read_buffer`), and what it holds is counted."""

from __future__ import annotations

import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake
from hygge_delta.home import DeltaHome

from hygge_core.context import FlowContext
from hygge_core.memory import FlowMemory
from hygge_core.plugins import load_registry
from hygge_core.storage import StorageResolver

MB = 1 << 20
# Beside its buffer pyarrow decodes a data page per column, compressed and decompressed;
# measured 2.5-2.7 MiB a column (not counted by `read_buffer`).
PAGE_BYTES = 3 * MB


def test_a_data_file_is_read_within_the_reader_share(tmp_path: pathlib.Path) -> None:
    # 8 columns of random 32-byte values: column chunks of 12 MiB that snappy cannot
    # shrink. Unbuffered, pyarrow fetched every column's whole chunk at once, 8 x 12 MiB
    # beside the batch, and the home counted none of it.
    rows, rng = 400_000, np.random.default_rng(7)
    columns = {
        f"b{i}": pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(32), rows, [None, pa.py_buffer(rng.bytes(rows * 32))]
        ).cast(pa.binary())
        for i in range(8)
    }
    write_deltalake(str(tmp_path / "t"), pa.table(columns))
    first = DeltaTable(str(tmp_path / "t")).file_uris()[0]
    assert pq.ParquetFile(first).metadata.row_group(0).column(0).total_compressed_size > 10 * MB

    ctx = FlowContext(flow="f", run_id="r", storage=StorageResolver(load_registry().storages))
    ctx.memory = FlowMemory(128 * MB)
    share = ctx.memory.share.reader
    assert share == 16 * MB
    config = DeltaHome.config_model.model_validate({"type": "delta", "path": str(tmp_path / "t")})
    home = DeltaHome(config, ctx)  # type: ignore[arg-type]
    got = 0
    for unit in home.plan(None):
        base = pa.total_allocated_bytes()
        beside = 0
        for batch in home.read(unit):
            beside = max(beside, pa.total_allocated_bytes() - base - batch.nbytes)
            got += batch.num_rows
            del batch
        assert beside <= share + 8 * PAGE_BYTES, f"{beside / MB:.1f} MiB beside the batch"
    assert got == rows
    assert ctx.memory.peak == share and ctx.memory.held == 0
