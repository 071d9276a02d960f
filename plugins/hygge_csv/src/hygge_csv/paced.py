"""Keep Arrow's streaming CSV and JSON readers from reading far ahead of their consumer.

Arrow's `open_csv` and `open_json` read their input on a background thread into a queue of
about 32 blocks, however slowly the batches are taken. With hygge's 4 MiB blocks that is
~150 MB per file being read (measured on a 340 MB CSV file: Arrow's pool peaked at 148 MB
while the batch taken at a time was 4 MB), outside the unit's reader share, and it is why a
16-file CSV → Parquet flow's peak RSS grew with the files' length (issue 14). `PacedInput`
hands Arrow the file through a `read_buffer` that waits while `ahead` more blocks have been
read than batches taken, so the reader holds `ahead + 1` blocks at most.
"""

from __future__ import annotations

import threading
from typing import Any


class PacedInput:
    """A readable stream over `inner` that Arrow may read at most `ahead` blocks ahead.

    Arrow parses one block per batch, and needs the block after a batch's to finish the
    row that straddles their boundary, so `ahead` must be at least 2. Call `took()` for
    each batch taken and `release()` when done: it wakes a read still waiting (which then
    reads the end of the file), so an abandoned reader's thread never hangs.
    """

    def __init__(self, inner: Any, ahead: int) -> None:
        if ahead < 2:
            raise ValueError("ahead must be at least 2 blocks")
        self._inner = inner
        self._ahead = ahead
        self._reads = 0
        self._taken = 0
        self._released = False
        self._position = 0
        self._turn = threading.Condition()

    def took(self) -> None:
        """A batch was taken from the reader: one more block may be read."""
        with self._turn:
            self._taken += 1
            self._turn.notify_all()

    def release(self) -> None:
        """No more batches will be taken: let any waiting read end the stream."""
        with self._turn:
            self._released = True
            self._turn.notify_all()

    def _wait_turn(self) -> bool:
        with self._turn:
            while not self._released and self._reads - self._taken > self._ahead:
                self._turn.wait()
            if self._released:
                return False
            self._reads += 1
            return True

    def read_buffer(self, nbytes: int = -1) -> Any:
        """Arrow's read: the next `nbytes`, once the reader is no further ahead than allowed."""
        if not self._wait_turn():
            return b""
        data = self._inner.read_buffer(nbytes)
        self._position += data.size
        return data

    def read(self, nbytes: int = -1) -> bytes:
        data = self.read_buffer(nbytes)
        return data if isinstance(data, bytes) else data.to_pybytes()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._position

    @property
    def closed(self) -> bool:
        return bool(self._inner.closed)

    def close(self) -> None:
        self.release()
        self._inner.close()

    @property
    def reads(self) -> int:
        """Blocks read so far (for tests)."""
        return self._reads

    @property
    def taken(self) -> int:
        """Batches taken so far (for tests)."""
        return self._taken
