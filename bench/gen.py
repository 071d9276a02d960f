"""Deterministic benchmark data: Parquet, CSV, SQLite and a PostgreSQL table.

Rows are made in chunks of one million with numpy generators seeded by (seed, chunk, column), so
the same ``--rows`` always gives the same bytes and a bigger data set starts with the rows of a
smaller one. Everything is vectorised (strings are built straight into Arrow buffers), so five
million rows take a few seconds per format.

Data sets are cached under ``bench/.data/r<ROWS>/`` (PostgreSQL: table ``bench_src_r<ROWS>``)
with a ``meta.json`` that holds the expected row count and checksum (see ``verify.py``). Each
format is written to a temporary name and renamed when complete, so an interrupted run never
leaves a half file that looks valid.

Usage::

    python bench/gen.py --rows 1000000 --scales 1,4,10 --formats parquet,csv,sqlite,pg
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

import verify
from schema import (
    COLUMNS,
    GEN_VERSION,
    PROGRAMS_DIR,
    SCHEMA,
    SEED,
    dataset_dir,
    pg_source_table,
)

CHUNK_ROWS = 1_000_000
FORMATS = ("parquet", "csv", "sqlite", "pg")
SQLITE_TABLE = "bench"
CATEGORIES = pa.array([f"category_{i:02d}" for i in range(50)], pa.string())
_TEXT_ALPHABET = np.frombuffer(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789    ", np.uint8
)
_TS_LOW = int(np.datetime64("2015-01-01T00:00:00", "us").astype(np.int64))
_TS_HIGH = int(np.datetime64("2025-01-01T00:00:00", "us").astype(np.int64))
_DAY_LOW = int(np.datetime64("2000-01-01", "D").astype(np.int64))
_DAY_HIGH = int(np.datetime64("2031-01-01", "D").astype(np.int64))


def _rng(chunk: int, column: int) -> np.random.Generator:
    return np.random.default_rng([SEED, chunk, column])


def _text_column(rng: np.random.Generator, n: int) -> pa.Array:
    """Random 20-40-character strings built directly as Arrow offsets and data buffers."""
    lengths = rng.integers(20, 41, n, dtype=np.int32)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = _TEXT_ALPHABET[rng.integers(0, len(_TEXT_ALPHABET), int(offsets[-1]))]
    # No leading/trailing blanks: some CSV readers trim them, which would be a false failure.
    letters = _TEXT_ALPHABET[:52]
    data[offsets[:-1]] = letters[rng.integers(0, 52, n)]
    data[offsets[1:] - 1] = letters[rng.integers(0, 52, n)]
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def make_chunk(chunk: int, n: int) -> pa.RecordBatch:
    """Rows ``chunk * CHUNK_ROWS`` .. ``+ n`` of the benchmark table."""
    start = chunk * CHUNK_ROWS
    cols: list[pa.Array] = [
        pa.array(np.arange(start, start + n, dtype=np.int64)),
        pa.array(_rng(chunk, 1).integers(1, 2_000_000, n, dtype=np.int64)),
        pa.array(np.round(_rng(chunk, 2).gamma(2.0, 50.0, n), 2)),
        pa.array(_rng(chunk, 3).integers(1, 1000, n, dtype=np.int32)),
        pa.array(_rng(chunk, 4).random(n) < 0.7),
        CATEGORIES.take(pa.array(_rng(chunk, 5).integers(0, len(CATEGORIES), n))),
        _text_column(_rng(chunk, 6), n),
        pa.array(_rng(chunk, 7).integers(_TS_LOW, _TS_HIGH, n), pa.timestamp("us")),
        pa.array(_rng(chunk, 8).integers(_DAY_LOW, _DAY_HIGH, n).astype(np.int32), pa.date32()),
    ]
    return pa.RecordBatch.from_arrays(cols, schema=SCHEMA)


def iter_chunks(rows: int) -> Iterator[pa.RecordBatch]:
    """All rows of the ``rows``-row data set, one million at a time."""
    for chunk, start in enumerate(range(0, rows, CHUNK_ROWS)):
        yield make_chunk(chunk, min(CHUNK_ROWS, rows - start))


@dataclass
class Dataset:
    """Where one data set lives and what its content must hash to."""

    rows: int
    dir: Path
    checksum: str
    pg_table: str | None = None

    @property
    def parquet(self) -> Path:
        return self.dir / "data.parquet"

    @property
    def csv(self) -> Path:
        return self.dir / "data.csv"

    @property
    def sqlite(self) -> Path:
        return self.dir / "data.sqlite"

    @property
    def empty_parquet(self) -> Path:
        """A Parquet file with the benchmark schema and no rows (start-up workload)."""
        return self.dir.parent / "empty.parquet"

    @property
    def digest(self) -> verify.Digest:
        return verify.Digest(self.rows, self.checksum)


def _log(msg: str) -> None:
    print(f"[gen] {msg}", file=sys.stderr, flush=True)


def _write_parquet(path: Path, rows: int) -> None:
    import pyarrow.parquet as pq

    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, SCHEMA) as writer:
        for batch in iter_chunks(rows):
            writer.write_batch(batch, row_group_size=CHUNK_ROWS)  # 1M-row row groups
    tmp.replace(path)


def _write_csv(path: Path, rows: int) -> None:
    import pyarrow.csv as pacsv

    tmp = path.with_suffix(".tmp")
    with pacsv.CSVWriter(tmp, SCHEMA) as writer:
        for batch in iter_chunks(rows):
            writer.write_batch(batch)
    tmp.replace(path)


def _sqlite_rows(batch: pa.RecordBatch) -> pa.RecordBatch:
    """SQLite has no timestamp/date/bool storage: use SQLAlchemy's ISO text and 0/1."""
    arrays = []
    for col, arr in zip(COLUMNS, batch.columns, strict=True):
        if col.kind in {"timestamp", "date"}:
            arr = arr.cast(pa.string())  # 'YYYY-MM-DD HH:MM:SS.ffffff' / 'YYYY-MM-DD'
        elif col.kind == "bool":
            arr = arr.cast(pa.int64())
        arrays.append(arr)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _write_sqlite(path: Path, rows: int) -> None:
    import adbc_driver_sqlite.dbapi as sqlite

    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    cols = ", ".join(
        f'"{c.name}" {c.sqlite}' + (" PRIMARY KEY" if c.name == "id" else "") for c in COLUMNS
    )
    with sqlite.connect(str(tmp)) as conn:
        with conn.cursor() as cur:
            # A file being built from scratch needs no rollback journal; all rows go in one
            # transaction (the DB-API connection is not autocommit), so one sync at the end.
            cur.execute("PRAGMA journal_mode=OFF")
            cur.execute(f"CREATE TABLE {SQLITE_TABLE} ({cols})")
            for batch in iter_chunks(rows):
                cur.adbc_ingest(SQLITE_TABLE, _sqlite_rows(batch), mode="append")
        conn.commit()
    tmp.replace(path)


def _pg_marker(rows: int, checksum: str) -> str:
    return f"hygge-bench gen v{GEN_VERSION} rows={rows} checksum={checksum}"


def _load_pg(dsn: str, table: str, rows: int, checksum: str) -> bool:
    """(Re)create the source table with psycopg binary COPY, then index and vacuum it.

    Returns False when the table already holds this data set (its comment says so).
    """
    import psycopg

    sys.path.insert(0, str(PROGRAMS_DIR))
    import pgbinary

    marker = _pg_marker(rows, checksum)
    with psycopg.connect(dsn, autocommit=True) as conn:
        found = conn.execute(
            "SELECT obj_description(to_regclass(%s), 'pg_class')", (table,)
        ).fetchone()
        if found and found[0] == marker:
            return False
        _log(f"loading PostgreSQL table {table} ({rows} rows)")
        tmp = f"{table}_loading"
        conn.execute(f'DROP TABLE IF EXISTS "{tmp}"')
        conn.execute(pgbinary.create_table_sql(tmp, SCHEMA))
        with conn.cursor().copy(f'COPY "{tmp}" FROM STDIN (FORMAT binary)') as copy:
            copy.write(pgbinary.COPY_HEADER)
            for batch in iter_chunks(rows):
                copy.write(pgbinary.encode_batch(batch))
            copy.write(pgbinary.COPY_TRAILER)
        # The key is added after the load (cheaper than maintaining it row by row). VACUUM
        # FREEZE sets hint bits now, so the first timed reader does not pay for writing them.
        conn.execute(f'ALTER TABLE "{tmp}" ADD PRIMARY KEY (id)')
        conn.execute(f'DROP TABLE IF EXISTS "{table}"')
        conn.execute(f'ALTER TABLE "{tmp}" RENAME TO "{table}"')
        conn.execute(f'ALTER INDEX "{tmp}_pkey" RENAME TO "{table}_pkey"')
        conn.execute(f"COMMENT ON TABLE \"{table}\" IS '{marker}'")
        conn.execute(f'VACUUM (FREEZE, ANALYZE) "{table}"')
    return True


def _write_empty_parquet(path: Path) -> None:
    import pyarrow.parquet as pq

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(SCHEMA.empty_table(), path)


def ensure(
    rows: int, formats: tuple[str, ...] = FORMATS, pg_dsn: str | None = None, check: bool = True
) -> Dataset:
    """Make sure the ``rows``-row data set exists in ``formats``; return where it is.

    The Parquet file is always made first: it is the source of truth whose checksum the
    other formats (and every benchmark output) must match. With ``check``, each newly written
    format is read back and compared, which also exercises ``verify.py`` on every storage kind.
    """
    d = dataset_dir(rows)
    d.mkdir(parents=True, exist_ok=True)
    meta_path = d / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if meta.get("gen_version") != GEN_VERSION or meta.get("rows") != rows:
        meta = {"gen_version": GEN_VERSION, "rows": rows, "formats": []}
    ds = Dataset(rows, d, meta.get("checksum", ""))

    def done(fmt: str) -> None:
        meta["formats"] = sorted(set(meta["formats"]) | {fmt})
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")

    if "parquet" not in meta["formats"] or not ds.parquet.exists():
        t0 = time.perf_counter()
        _write_parquet(ds.parquet, rows)
        digest = verify.digest_parquet(ds.parquet)
        meta["checksum"] = ds.checksum = digest.checksum
        meta["formats"] = []  # other formats were made from an older Parquet file
        done("parquet")
        _log(f"parquet {rows} rows in {time.perf_counter() - t0:.1f} s: {digest}")
    _write_empty_parquet(ds.empty_parquet)

    writers = {"csv": (_write_csv, ds.csv), "sqlite": (_write_sqlite, ds.sqlite)}
    for fmt, (write, path) in writers.items():
        if fmt in formats and (fmt not in meta["formats"] or not path.exists()):
            t0 = time.perf_counter()
            write(path, rows)
            if check:
                got = (
                    verify.digest_csv(path)
                    if fmt == "csv"
                    else verify.digest_sqlite(path, SQLITE_TABLE)
                )
                if got != ds.digest:
                    raise SystemExit(
                        f"{fmt} data set does not match the Parquet source: {got} != {ds.digest}"
                    )
            done(fmt)
            _log(f"{fmt} {rows} rows in {time.perf_counter() - t0:.1f} s")

    if "pg" in formats and pg_dsn:
        table = pg_source_table(rows)
        t0 = time.perf_counter()
        loaded = _load_pg(pg_dsn, table, rows, ds.checksum)
        if check and loaded:
            got = verify.digest_pg(pg_dsn, table)
            if got != ds.digest:
                raise SystemExit(
                    f"PostgreSQL table does not match the Parquet source: {got} != {ds.digest}"
                )
        ds.pg_table = table
        if loaded:
            _log(f"pg table {table} loaded in {time.perf_counter() - t0:.1f} s")
    return ds


def ensure_csv16(ds: Dataset) -> Path:
    """The data set's CSV cut into 16 files of about equal rows, each with the header, made
    once in ``csv16/`` beside it (the memory_budget workload: 16 units in flight). The
    text has no quoted newlines, so cutting at line ends keeps every row whole."""
    folder = ds.dir / "csv16"
    if (folder / "part-15.csv").exists():
        return folder
    tmp = ds.dir / "csv16.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    per = -(-ds.rows // 16)
    with open(ds.csv, "rb") as src:
        header = src.readline()
        for i in range(16):
            with open(tmp / f"part-{i:02d}.csv", "wb") as out:
                out.write(header)
                for _, line in zip(range(per), src, strict=False):
                    out.write(line)
    tmp.rename(folder)
    return folder


def service_setting(*names: str) -> str | None:
    """The first of `names` set in the environment, else in the services script's env file
    (`/tmp/hygge-services/services.env`, written by `scripts/services.py start`)."""
    for var in names:
        if os.environ.get(var):
            return os.environ[var]
    env_file = Path("/tmp/hygge-services/services.env")
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            if key.strip() in names and value.strip():
                return value.strip().strip("'\"")
    return None


def pg_dsn_from_env() -> str | None:
    """The PostgreSQL DSN to use, from the environment or the services script's env file."""
    return service_setting("HYGGE_BENCH_PG_DSN", "HYGGE_TEST_PG_DSN")


def main() -> None:
    """Command line: make the data sets for ``--rows`` times each of ``--scales``."""
    parser = argparse.ArgumentParser(description="Generate the hygge benchmark data sets.")
    parser.add_argument(
        "--rows", type=int, default=5_000_000, help="rows at scale 1 (default 5,000,000)"
    )
    parser.add_argument(
        "--scales", default="1", help="comma-separated multipliers of --rows, e.g. 1,4,10"
    )
    parser.add_argument(
        "--formats", default=",".join(FORMATS), help=f"subset of {','.join(FORMATS)}"
    )
    parser.add_argument(
        "--pg-dsn",
        default=None,
        help="PostgreSQL DSN (default: $HYGGE_BENCH_PG_DSN / $HYGGE_TEST_PG_DSN)",
    )
    parser.add_argument(
        "--no-check",
        action="store_true",
        help="do not read each new format back to compare checksums",
    )
    args = parser.parse_args()
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    unknown = set(formats) - set(FORMATS)
    if unknown:
        parser.error(f"unknown format(s) {sorted(unknown)}; choose from {FORMATS}")
    dsn = args.pg_dsn or pg_dsn_from_env()
    if "pg" in formats and not dsn:
        _log("no PostgreSQL DSN set: skipping the pg format")
    for scale in (int(s) for s in args.scales.split(",")):
        ds = ensure(args.rows * scale, formats, dsn, check=not args.no_check)
        print(f"{ds.rows} rows -> {ds.dir} ({ds.digest})")


if __name__ == "__main__":
    main()
