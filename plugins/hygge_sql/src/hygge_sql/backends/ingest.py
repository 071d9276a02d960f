"""Loading a batch stream through ADBC's bulk ingest, without losing the stream's own error."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.schema import CreateTable, DropTable

from hygge_sql.backends.base import Ledger, drain

if TYPE_CHECKING:  # ADBC is an optional dependency: imported when a load uses it
    from hygge_sql.backends.adbc import Connection


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


def ingest(
    conn: Connection,
    staging: sa.Table,
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    ledger: Ledger | None,
    compiler: Any,
    reshape: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]] = lambda b: b,
) -> bool:
    """Load `batches` into `staging` in one transaction of the ADBC connection `conn`, the
    way `Backend.stage` describes (creating the table, or recording the unit in `ledger`)."""
    from hygge_sql.backends.adbc import IntegrityError

    if ledger is None:
        conn.run(str(DropTable(staging, if_exists=True).compile(dialect=compiler)))
        conn.run(str(CreateTable(staging).compile(dialect=compiler)))
    else:
        compiled = ledger.insert().compile(dialect=compiler)
        params = [compiled.params[name] for name in compiled.positiontup or []]
        try:
            conn.run(str(compiled), params)
        except IntegrityError:
            conn.rollback()
            drain(batches)
            return False
    feed = Feed(batches)
    reader = pa.RecordBatchReader.from_batches(schema, reshape(iter(feed)))
    try:
        conn.ingest(staging.name, staging.schema, reader)
    except Exception:
        feed.reraise()
        raise
    conn.commit()
    return True
