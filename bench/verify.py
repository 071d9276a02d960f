"""Order-independent content checksum of a benchmark table, wherever it lives.

Every output of every program (Parquet file or folder of part files, PostgreSQL table, SQLite
file, CSV) is reduced to ``(row count, checksum)`` by the same code, so a fast but wrong answer
(lost rows, duplicated rows, shifted timestamps, truncated strings) fails the benchmark.

How: each column is first brought to a canonical 64-bit form that does not depend on how a tool
chose to store it (int32 or int64, bool or 0/1, timestamp with or without a UTC zone, timestamp as
ISO text in SQLite, ``string`` or ``large_string``...); strings get a polynomial hash. A row's hash
mixes its columns in a fixed order with the splitmix64 finaliser; the table's checksum is the sum
of row hashes modulo 2**64. A sum (unlike xor) still notices a row that appears twice, and does
not depend on row order. All of it is vectorised with numpy over Arrow buffers.

Usage: ``python bench/verify.py PATH_OR_TABLE [--pg-dsn DSN]`` prints rows and checksum.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))

from schema import COLUMN_NAMES, COLUMNS, SCHEMA, Column

_MASK = (1 << 64) - 1
_ROW_SEED = np.uint64(0x243F6A8885A308D3)
_NULL_VALUE = np.uint64(0x9E3779B97F4A7C15)
_STRING_BASE = np.uint64(0x100000001B3)
_READ_BATCH = 131_072  # rows per checksum step: bounds the temporary numpy arrays (~50 MB)


class VerifyError(Exception):
    """The output cannot be read or lacks a column the benchmark table has."""


@dataclass(frozen=True)
class Digest:
    """Row count and content checksum of a table."""

    rows: int
    checksum: str

    def __str__(self) -> str:
        return f"{self.rows} rows, checksum {self.checksum}"


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads every input bit over the whole 64-bit word."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _int64(arr: pa.Array) -> np.ndarray:
    """An Arrow integer array (nulls already filled) as uint64 bits of its int64 values."""
    return arr.cast(pa.int64()).to_numpy(zero_copy_only=False).view(np.uint64)


class _PowerTable:
    """Powers of the string-hash base and of its inverse modulo 2**64, grown on demand.

    The base is odd, so it has an inverse modulo 2**64: a string's hash can be taken from one
    prefix sum over the whole batch (weights by absolute byte position) and then shifted back
    to the string's own start by multiplying with the inverse power. No per-byte gather needed.
    """

    def __init__(self) -> None:
        self.forward = np.ones(1, dtype=np.uint64)
        self.inverse = np.ones(1, dtype=np.uint64)

    def ensure(self, size: int) -> None:
        if len(self.forward) >= size:
            return
        size = max(size, 2 * len(self.forward))
        self.forward = np.concatenate(
            [
                np.ones(1, dtype=np.uint64),
                np.cumprod(np.full(size - 1, _STRING_BASE, dtype=np.uint64)),
            ]
        )
        inv = np.uint64(pow(int(_STRING_BASE), -1, 1 << 64))
        self.inverse = np.concatenate(
            [np.ones(1, dtype=np.uint64), np.cumprod(np.full(size - 1, inv, dtype=np.uint64))]
        )


_POWERS = _PowerTable()


def _string_hash(arr: pa.Array) -> np.ndarray:
    """Polynomial hash of each UTF-8 string's bytes, mixed with its length."""
    arr = arr.cast(pa.large_string()).fill_null("")
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    lengths = np.diff(offsets).astype(np.uint64)
    starts = offsets - offsets[0]
    total = int(starts[-1])
    if total == 0:
        return _mix(lengths)
    _POWERS.ensure(total + 1)
    weighted = np.frombuffer(arr.buffers()[2], dtype=np.uint8, count=total, offset=int(offsets[0]))
    weighted = weighted.astype(np.uint64)
    weighted += np.uint64(1)
    weighted *= _POWERS.forward[:total]
    # Wrapping prefix sums: a string's weighted sum is the difference of two entries.
    prefix = np.zeros(total + 1, dtype=np.uint64)
    np.cumsum(weighted, dtype=np.uint64, out=prefix[1:])
    sums = (prefix[starts[1:]] - prefix[starts[:-1]]) * _POWERS.inverse[starts[:-1]]
    return _mix(sums ^ (lengths * np.uint64(0xD6E8FEB86659FD93)))


def _to_timestamp_us(arr: pa.Array) -> pa.Array:
    """Any timestamp-like column (naive, zoned, other unit, ISO text) as microseconds."""
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        try:
            arr = pc.cast(arr, pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            arr = pc.cast(arr, pa.timestamp("us", tz="UTC"))
        t = arr.type
    if pa.types.is_date(t):
        arr = arr.cast(pa.timestamp("us"))
        t = arr.type
    if not pa.types.is_timestamp(t):
        raise VerifyError(f"expected a timestamp, found {t}")
    # Zoned timestamps store UTC instants; the source's naive values are read as UTC too.
    return arr.cast(pa.timestamp("us", tz=t.tz)).cast(pa.int64())


def _to_date_days(arr: pa.Array) -> pa.Array:
    """Any date-like column (date32/64, midnight timestamp, ISO text) as days since 1970."""
    t = arr.type
    if not pa.types.is_date32(t):
        arr = pc.cast(arr, pa.date32())
    return arr.cast(pa.int32()).cast(pa.int64())


def _canonical(col: Column, arr: pa.Array) -> np.ndarray:
    """A column's values as uint64 words that do not depend on the storage type chosen."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    nulls = arr.is_null().to_numpy(zero_copy_only=False) if arr.null_count else None
    kind = col.kind
    if kind == "string":
        words = _string_hash(arr)
    elif kind == "float":
        values = arr.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
        values = np.where(np.isnan(values), np.nan, values + 0.0)  # one NaN, and -0.0 == 0.0
        words = values.view(np.uint64)
    elif kind == "timestamp":
        words = _int64(_to_timestamp_us(arr).fill_null(0))
    elif kind == "date":
        words = _int64(_to_date_days(arr).fill_null(0))
    elif kind == "bool":
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            arr = pc.cast(arr, pa.bool_())
        words = _int64(arr.cast(pa.int64()).fill_null(0))
    else:
        words = _int64(arr.fill_null(0))
    if nulls is not None:
        words = np.where(nulls, _NULL_VALUE, words)
    return words


def columns_of(schema: pa.Schema) -> tuple[Column, ...]:
    """Checksum columns for any table of flat columns (the table shapes of ``shapes.py``):
    each column's kind follows its Arrow type."""
    kinds = []
    for f in schema:
        t = f.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            kind = "string"
        elif pa.types.is_floating(t):
            kind = "float"
        elif pa.types.is_boolean(t):
            kind = "bool"
        elif pa.types.is_timestamp(t):
            kind = "timestamp"
        elif pa.types.is_date(t):
            kind = "date"
        elif pa.types.is_integer(t):
            kind = "int"
        else:
            raise VerifyError(f"column {f.name}: no checksum for type {t}")
        kinds.append(Column(f.name, t, "", "", kind))
    return tuple(kinds)


def _pick_columns(schema: pa.Schema, columns: tuple[Column, ...] = COLUMNS) -> list[str]:
    """Names, as spelled in the output, of the benchmark columns (extra columns are ignored)."""
    by_lower = {name.lower(): name for name in schema.names}
    missing = [c.name for c in columns if c.name.lower() not in by_lower]
    if missing:
        raise VerifyError(f"output lacks column(s) {missing}; it has {schema.names}")
    return [by_lower[c.name.lower()] for c in columns]


def digest_batches(
    batches: Iterable[pa.RecordBatch], columns: tuple[Column, ...] = COLUMNS
) -> Digest:
    """Row count and checksum of a stream of record batches holding ``columns`` (by default
    the benchmark table's)."""
    rows = 0
    total = 0
    names: list[str] | None = None
    for batch in batches:
        if names is None:
            names = _pick_columns(batch.schema, columns)
        for start in range(0, batch.num_rows, _READ_BATCH):
            part = batch.slice(start, _READ_BATCH)
            h = np.full(part.num_rows, _ROW_SEED, dtype=np.uint64)
            for i, (col, name) in enumerate(zip(columns, names, strict=True)):
                words = _canonical(col, part.column(name))
                h = _mix(h ^ _mix(words + np.uint64(i + 1)))
            total = (total + int(h.sum(dtype=np.uint64))) & _MASK
            rows += part.num_rows
    return Digest(rows, f"{total:016x}")


def parquet_files(path: Path) -> list[Path]:
    """The data files of a Parquet output: the file itself, or the part files of a folder.

    Hidden and underscore-prefixed entries (``_hygge_staging``, ``_dlt_*``, ``.commit``) are
    skipped at every level, as Parquet readers conventionally do.
    """
    if path.is_file():
        return [path]
    if not path.exists():
        return []
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        found += [
            Path(root, f)
            for f in sorted(files)
            if f.endswith(".parquet") and not f.startswith((".", "_"))
        ]
    return found


def digest_parquet(path: Path, columns: tuple[Column, ...] = COLUMNS) -> Digest:
    """Digest of a Parquet file or of a folder of part files (recursively)."""
    import pyarrow.parquet as pq

    def batches() -> Iterator[pa.RecordBatch]:
        for file in parquet_files(path):
            pf = pq.ParquetFile(file)
            cols = _pick_columns(pf.schema_arrow, columns)
            yield from pf.iter_batches(batch_size=_READ_BATCH, columns=cols)

    return digest_batches(batches(), columns)


def digest_delta(path: Path, columns: tuple[Column, ...] = COLUMNS) -> Digest:
    """Digest of the current version of the Delta table at ``path``, read by delta-rs."""
    from deltalake import DeltaTable

    dataset = DeltaTable(str(path)).to_pyarrow_dataset()
    cols = _pick_columns(dataset.schema, columns)
    return digest_batches(dataset.to_batches(columns=cols, batch_size=_READ_BATCH), columns)


def iceberg_metadata(path: Path) -> Path:
    """The newest Iceberg metadata file under ``path`` (a warehouse or a table folder),
    whatever catalog wrote it: ``NNNNN-<uuid>.metadata.json``, highest NNNNN wins."""
    found = [p for p in path.rglob("*.metadata.json") if "/metadata/" in p.as_posix()]
    if not found:
        raise VerifyError(f"no Iceberg metadata file under {path}")
    return max(found, key=lambda p: (int(p.name.split("-", 1)[0] or 0), p.stat().st_mtime))


def digest_iceberg(path: Path, columns: tuple[Column, ...] = COLUMNS) -> Digest:
    """Digest of the Iceberg table whose files are under ``path``, read by pyiceberg from
    its newest metadata file (no catalog needed)."""
    from pyiceberg.table import StaticTable

    table = StaticTable.from_metadata(str(iceberg_metadata(path)))
    reader = table.scan().to_arrow_batch_reader()
    return digest_batches(reader, columns)


def digest_csv(path: Path) -> Digest:
    """Digest of a CSV file with a header row (types taken from the benchmark schema)."""
    import pyarrow.csv as pacsv

    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=16 << 20),
        convert_options=pacsv.ConvertOptions(column_types=SCHEMA),
    )
    return digest_batches(reader)


def _select_sql(table: str, quote: str = '"') -> str:
    cols = ", ".join(f"{quote}{c}{quote}" for c in COLUMN_NAMES)
    qualified = ".".join(f"{quote}{part}{quote}" for part in table.split("."))
    return f"SELECT {cols} FROM {qualified}"


def digest_sqlite(path: Path, table: str) -> Digest:
    """Digest of a SQLite table (timestamps and dates stored as ISO text are parsed)."""
    import adbc_driver_sqlite.dbapi as sqlite

    with sqlite.connect(str(path)) as conn, conn.cursor() as cur:
        cur.execute(_select_sql(table))
        return digest_batches(cur.fetch_record_batch())


def digest_pg(dsn: str, table: str) -> Digest:
    """Digest of a PostgreSQL table (``table`` may be ``schema.table``)."""
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(_select_sql(table))
        return digest_batches(cur.fetch_record_batch())


def main() -> None:
    """Print the digest of one output: a Parquet/CSV path, a SQLite file or a PG table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="Parquet file or folder, CSV file, SQLite file, or PG table")
    parser.add_argument("--table", help="table name inside a SQLite file", default="bench")
    parser.add_argument("--pg-dsn", help="read TARGET as a table from this PostgreSQL DSN")
    args = parser.parse_args()
    if args.pg_dsn:
        print(digest_pg(args.pg_dsn, args.target))
        return
    path = Path(args.target)
    if path.suffix == ".csv":
        print(digest_csv(path))
    elif path.suffix in {".sqlite", ".db"}:
        print(digest_sqlite(path, args.table))
    else:
        print(digest_parquet(path))


if __name__ == "__main__":
    main()
