"""Where a CSV file's rows end, proven from its quote characters without parsing it.

A file cut at a newline parses in parallel pieces only if that newline ends a row: a quoted
value may hold newlines. Counting quotes tells inside from outside when every quote is
where RFC 4180 puts one, which this module checks (vectorised, a few milliseconds a block):

- an opening quote (the 1st, 3rd, ... quote of a block that starts at a row start) starts
  a value: it follows a delimiter, a line end, the start of the block, or the closing quote
  just before it (a doubled `""` inside a quoted value);
- a closing quote (the 2nd, 4th, ...) ends the value: a delimiter, a line end or another
  quote follows it.

When both hold, a newline after an even number of quotes is outside every quoted value,
exactly as Arrow's own lexer reads it (no escape character; a quote inside an unquoted
value, `5" disk`, is literal to Arrow and breaks the count, so it is refused). When they do
not hold, `last_row_end` says so and the caller reads the rest of the file serially.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

IRREGULAR = -1
_LF, _CR = 10, 13
BOM = b"\xef\xbb\xbf"


def _quotes(a: np.ndarray, delimiter: int, quote: int) -> np.ndarray | None:
    """Where the quotes of `a` are, or None when they are not laid out as the count needs
    (see the module's docstring)."""
    quotes = np.flatnonzero(a == quote)
    if not quotes.size:
        return quotes
    opening, closing = quotes[0::2], quotes[1::2]
    before = a[np.maximum(opening - 1, 0)]
    after = a[closing[closing + 1 < a.size] + 1]  # a quote at the very end: nothing to cut
    for near in (before, after):  # comparisons: np.isin sorts, ten times slower here
        if not ((near == delimiter) | (near == _LF) | (near == _CR) | (near == quote)).all():
            return None
    return quotes


def row_ends(data: bytes | memoryview, delimiter: int, quote: int | None) -> np.ndarray | None:
    """The offsets just past each newline of `data` that ends a row, `data` starting at a
    row start; None when its quotes cannot be counted."""
    a = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(a == _LF)
    quotes = _quotes(a, delimiter, quote) if quote is not None else newlines[:0]
    if quotes is None:
        return None
    outside = (np.searchsorted(quotes, newlines) & 1) == 0
    return newlines[outside] + 1


def last_row_end(data: bytes, delimiter: int, quote: int | None, start: int = 0) -> int:
    """The offset (from `start`) just past the last row end of `data[start:]`, which starts
    at a row start: 0 when it has none, `IRREGULAR` when its quotes cannot be counted.

    Only the quotes are located; the newline is searched from the end, and one inside a
    quoted value sends the search to before the quote that opened the value."""
    a = np.frombuffer(data, dtype=np.uint8)[start:]
    quotes = _quotes(a, delimiter, quote) if quote is not None else a[:0]
    if quotes is None:
        return IRREGULAR
    end = len(data)
    while (newline := data.rfind(b"\n", start, end)) >= 0:
        before = int(np.searchsorted(quotes, newline - start))
        if before % 2 == 0:
            return newline + 1 - start
        end = start + int(quotes[before - 1])  # the opening quote of the value it is in
    return 0


@dataclass
class Rest:
    """What is left of a file once its rows cannot be cut: bytes read, then the stream."""

    head: bytes
    stream: Any


def row_blocks(
    stream: Any, block: int, delimiter: int, quote: int | None
) -> Iterator[memoryview | Rest]:
    """`stream` (at a row start) in pieces of about `block` bytes that end where rows end.

    The last item is a `Rest` instead when a piece's quotes cannot be counted, or when no
    row ends within two blocks (a row that long is Arrow's to report); the pieces before
    it are whole rows either way.
    """
    carry = b""
    first = True
    while True:
        data = stream.read(block)
        if not data:
            if carry:
                yield memoryview(carry)
            return
        buf = carry + data if carry else bytes(data)
        start = len(BOM) if first and buf.startswith(BOM) else 0
        first = False
        end = last_row_end(buf, delimiter, quote, start)
        if end == IRREGULAR or (end == 0 and len(buf) > 2 * block):
            yield Rest(buf, stream)
            return
        if end == 0:
            carry = buf
            continue
        end += start
        yield memoryview(buf)[:end]
        carry = buf[end:]


class Prefixed:
    """A stream of `head`, then of what `inner` has left (what `PacedInput` reads from)."""

    def __init__(self, head: bytes, inner: Any) -> None:
        self._head = head
        self._inner = inner

    def read_buffer(self, nbytes: int = -1) -> pa.Buffer:
        return pa.py_buffer(self.read(nbytes))

    def read(self, nbytes: int = -1) -> bytes:
        if nbytes is None or nbytes < 0:  # all of it
            data, self._head = self._head + bytes(self._inner.read()), b""
            return data
        if self._head:
            data, self._head = self._head[:nbytes], self._head[nbytes:]
            return data
        return bytes(self._inner.read(nbytes))

    @property
    def closed(self) -> bool:
        return bool(self._inner.closed)

    def close(self) -> None:
        self._inner.close()
