"""One CSV file parsed on several cores: pieces cut where rows end, parsed side by side.

Arrow's streaming CSV reader parses a file one block after another, on one core: with fewer
files than cores the others idle (one 450 MB file on 2 cores: 2.1 s parsing, 1.0 core
busy). Here the file is read a block at a time, each block is cut after its last row end
(proven from its quotes by `hygge_csv.rowends`), and up to `workers` pieces parse at once
with Arrow's table reader on a thread pool; their batches come out in the file's order.
What the quote count cannot cut (see `rowends`) is left to Arrow's streaming reader:
`rest` is then set, and the caller reads it serially with `rest_options()`.

Arrow numbers the rows of each parse (`Row #N` in its errors) from the piece's start;
`renumbered` shifts a message back to the file's numbering.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from hygge_csv.rowends import BOM, Prefixed, Rest, row_blocks, row_ends

_ROW = re.compile(r"Row #(\d+)")


class ParallelCsv:
    """Parses one CSV stream in row-aligned pieces, `workers` at a time, in order."""

    def __init__(
        self,
        read: pacsv.ReadOptions,
        parse: pacsv.ParseOptions,
        convert: pacsv.ConvertOptions,
        workers: int,
    ) -> None:
        self.read = read
        self.parse = parse
        self.convert = convert
        self.workers = workers
        self.rest: Any = None
        self._names: list[str] | None = None
        self._taken = 0
        self._base = 0

    @staticmethod
    def usable(parse: pacsv.ParseOptions, read: pacsv.ReadOptions, workers: int) -> bool:
        """Whether pieces can be cut for these options: two cores or more to parse on, no
        escape character and no skipped lines (the quote count does not follow them), and
        one-byte delimiter and quote characters."""
        single = [c for c in (parse.delimiter, parse.quote_char) if isinstance(c, str)]
        return (
            workers >= 2
            and not parse.escape_char
            and not read.skip_rows
            and all(len(c.encode()) == 1 for c in single)
        )

    def batches(self, raw: Any) -> Iterator[pa.RecordBatch]:
        """The batches of `raw`'s pieces, in order (Arrow's `ArrowInvalid` on bad data,
        renumbered); `rest` is set when the pieces stop short of the end."""
        block = self.read.block_size
        head = raw.read(block)
        header = self.read.column_names == [] and not self.read.autogenerate_column_names
        quote = self.parse.quote_char
        delimiter, quoted = ord(self.parse.delimiter), ord(quote) if quote else None
        if header:
            self._names = self._header(head, delimiter, quoted)
            if self._names is None:  # no readable header in the first block: Arrow says why
                self.rest = Prefixed(head, raw)
                return
        pieces = row_blocks(Prefixed(head, raw), block, delimiter, quoted)
        pending: deque[Future[pa.Table]] = deque()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="hygge-csv") as pool:
            try:
                for piece in pieces:
                    if isinstance(piece, Rest):
                        self.rest = Prefixed(piece.head, piece.stream)
                        break
                    options = self._options(len(piece), first=not (self._taken or pending))
                    pending.append(pool.submit(self._parse, piece, options))
                    if len(pending) > self.workers:  # one parsed ahead of those parsing
                        yield from self._take(pending.popleft())
                while pending:
                    yield from self._take(pending.popleft())
            finally:
                for future in pending:
                    future.cancel()

    def rest_options(self) -> pacsv.ReadOptions:
        """Read options for `rest`: the file's own, or header-less after the first piece."""
        return self._options(self.read.block_size, first=not self._taken)

    def renumbered(self, message: str) -> str:
        """`message` with Arrow's first `Row #N` counted from the file's start."""
        return _ROW.sub(lambda m: f"Row #{int(m.group(1)) + self._base}", message, count=1)

    def _header(self, head: bytes, delimiter: int, quote: int | None) -> list[str] | None:
        """The column names on the first row of `head` (None: no row ends in it)."""
        start = len(BOM) if head.startswith(BOM) else 0
        ends = row_ends(memoryview(head)[start:], delimiter, quote)
        if ends is None or not ends.size:
            return None
        first = head[: start + int(ends[0])]
        options = pacsv.ReadOptions(block_size=len(first), use_threads=False)
        try:
            return list(pacsv.open_csv(pa.BufferReader(first), options, self.parse).schema.names)
        except pa.ArrowInvalid:
            return None

    def _options(self, size: int, first: bool) -> pacsv.ReadOptions:
        # One block per piece: Arrow's table reader then parses it on the calling thread.
        options = pacsv.ReadOptions(
            block_size=max(size, self.read.block_size),
            use_threads=False,
            column_names=self.read.column_names,
            autogenerate_column_names=self.read.autogenerate_column_names,
        )
        if not first and self._names is not None:
            options.column_names = self._names
        return options

    def _parse(self, piece: memoryview, options: pacsv.ReadOptions) -> pa.Table:
        return pacsv.read_csv(
            pa.py_buffer(piece),
            read_options=options,
            parse_options=self.parse,
            convert_options=self.convert,
        )

    def _take(self, future: Future[pa.Table]) -> Iterator[pa.RecordBatch]:
        try:
            table = future.result()
        except pa.ArrowInvalid as exc:
            raise pa.ArrowInvalid(self.renumbered(str(exc))) from None
        # The first piece's numbers count the header line; the later pieces have none.
        self._base += table.num_rows + (1 if self._taken == 0 and self._names else 0)
        self._taken += 1
        yield from table.to_batches()
