"""Handing a batch stream to a driver's bulk loader without losing the stream's own error."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa


class Feed:
    """Wraps the batches a bulk loader pulls from (through Arrow's C stream interface).

    When the stream fails — the home's read broke, a value did not convert — the driver only
    reports that its input failed. `reraise` raises the original error instead, so the user
    sees what actually went wrong.
    """

    def __init__(self, batches: Iterable[pa.RecordBatch]) -> None:
        self.batches = batches
        self.error: BaseException | None = None

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            yield from self.batches
        except BaseException as exc:
            self.error = exc
            raise

    def reraise(self) -> None:
        """Raise the stream's own error, if it had one."""
        if self.error is not None:
            raise self.error
