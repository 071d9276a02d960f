"""How a Parquet reader fits a unit's reader share, and when it decodes on Arrow's threads.

pyarrow reads each column of a row group through a stream of its own. Unbuffered, a
stream fetches its whole column chunk at once: tens of MB per column for a 1M-row row
group. Buffered (`buffer_size=`), each stream holds a buffer of that size, capped by its
chunk, and every column's buffer is alive at once. Either way a unit holds about
`columns x` what one stream holds: a 9-column, 1M-row row group read with the whole
reader share as its buffer held its whole compressed size, 259 MB, while 64 MiB were
counted (issue 14). So a reader splits its share among the columns it reads.

Beside each buffer pyarrow decodes one data page per column, compressed and
decompressed (2.5-2.7 MiB a column measured with 1 MiB pages); that is not counted here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from hygge_core.units import WorkUnit

# The smallest buffer a column gets, however many columns share the reader's share: about
# a data page, below which reads turn into many small requests.
MIN_COLUMN_BUFFER = 1 << 20

# Public (docs/plugins/api.md), exported by `hygge_core.files`.
__all__ = ["MIN_COLUMN_BUFFER", "leaf_columns", "read_buffer", "short_round"]


def leaf_columns(types: Iterable[pa.DataType]) -> int:
    """How many Parquet columns hold these Arrow types: one per leaf of a nested type."""
    return sum(_leaves(t) for t in types)


def _leaves(type_: pa.DataType) -> int:
    if type_.num_fields == 0:
        return 1
    return sum(_leaves(type_.field(i).type) for i in range(type_.num_fields))


def read_buffer(reader_share: int, columns: int) -> tuple[int, int]:
    """The `buffer_size` to open a Parquet file with when reading `columns` Parquet
    columns within `reader_share` bytes, and the bytes to count as held while reading:
    the share, or more when so many columns each need `MIN_COLUMN_BUFFER`."""
    columns = max(1, columns)
    buffer = max(MIN_COLUMN_BUFFER, reader_share // columns)
    return buffer, max(reader_share, buffer * columns)


def short_round(units: Sequence[WorkUnit], parallelism: int | None) -> Sequence[WorkUnit]:
    """The units of the plan's last round when it has fewer units than the flow's
    parallelism (all of them when the whole plan has): units run in plan order, as many at
    once as the parallelism, so these run without company, and a reader decodes their
    columns on Arrow's threads (`use_threads=True`) or the flow's other cores idle. Without
    a known parallelism (Dask), none."""
    tail = len(units) % (parallelism or 1)
    return units[len(units) - tail :] if tail else []
