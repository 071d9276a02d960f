"""Arrow's streaming readers read no further ahead than `PacedInput` lets them, every row
still arrives, and a reader given up on mid-file never leaves a read waiting."""

from __future__ import annotations

import threading
import time

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pytest
from hygge_csv.paced import PacedInput

BLOCK = 1 << 16


def _csv(rows: int) -> bytes:
    lines = ["id,text"] + [f"{i},{'x' * (i % 50)}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("ahead", [2, 5])
def test_arrow_reads_at_most_ahead_blocks_beyond_the_batches_taken(ahead: int) -> None:
    data = _csv(200_000)  # ~6 MB: ~90 blocks, far more than Arrow's own queue of ~32
    stream = PacedInput(pa.BufferReader(data), ahead)
    reader = pacsv.open_csv(stream, read_options=pacsv.ReadOptions(block_size=BLOCK))
    ids: list[int] = []
    worst = 0
    for batch in reader:
        stream.took()
        time.sleep(0.002)  # a slow consumer: Arrow's background reader races ahead if let
        worst = max(worst, stream.reads - stream.taken)
        ids.extend(batch.column("id").to_pylist())
    stream.release()
    assert ids == list(range(200_000))
    assert stream.reads > 80
    assert worst <= ahead + 1


def test_without_pacing_arrow_reads_far_ahead() -> None:
    # What PacedInput is for: the same reader over an unpaced stream has queued most of
    # the file by the time the third batch is taken.
    data = _csv(200_000)
    counted = PacedInput(pa.BufferReader(data), ahead=10_000)
    reader = pacsv.open_csv(counted, read_options=pacsv.ReadOptions(block_size=BLOCK))
    for _ in range(3):
        reader.read_next_batch()
        counted.took()
    time.sleep(0.5)
    assert counted.reads - counted.taken > 20
    counted.release()


def test_jsonl_reader_is_paced_too() -> None:
    data = "".join(f'{{"id": {i}, "t": "{"y" * (i % 40)}"}}\n' for i in range(100_000)).encode()
    stream = PacedInput(pa.BufferReader(data), 2)
    reader = pajson.open_json(stream, read_options=pajson.ReadOptions(block_size=BLOCK))
    total = worst = 0
    for batch in reader:
        stream.took()
        time.sleep(0.002)
        worst = max(worst, stream.reads - stream.taken)
        total += batch.num_rows
    assert total == 100_000 and worst <= 3


def test_a_waiting_read_proceeds_on_took_and_ends_on_release() -> None:
    stream = PacedInput(pa.BufferReader(b"a" * 100), 2)
    for _ in range(3):
        assert stream.read_buffer(10).size == 10
    got: list[object] = []
    reader = threading.Thread(target=lambda: got.append(stream.read_buffer(10)))
    reader.start()
    reader.join(0.3)
    assert reader.is_alive()  # three blocks ahead of none taken: it waits
    stream.took()
    reader.join(5)
    assert not reader.is_alive() and got[0].size == 10  # type: ignore[attr-defined]
    waiting = threading.Thread(target=lambda: got.append(stream.read_buffer(10)))
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive()
    stream.release()
    waiting.join(5)
    assert not waiting.is_alive() and got[1] == b""
    assert stream.read_buffer(10) == b""  # and stays ended


def test_ahead_below_two_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        PacedInput(pa.BufferReader(b""), 1)
