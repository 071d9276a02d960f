"""The benchmark table: its columns, their logical kinds and the cache layout.

One table shape is used by every workload so that figures are comparable with the issue's
reference numbers: 9 columns (int64 id, int64, float64, int32, bool, a 50-value string, a
20-40-character string, timestamp[us], date32).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("HYGGE_BENCH_DATA_DIR", BENCH_DIR / ".data"))
VENVS_DIR = BENCH_DIR / ".venvs"
RESULTS_DIR = BENCH_DIR / "results"
PROGRAMS_DIR = BENCH_DIR / "programs"

# Bump when the generator changes what it writes, so cached data sets are rebuilt.
GEN_VERSION = 1
SEED = 20_251_125


@dataclass(frozen=True)
class Column:
    """One benchmark column: its name, Arrow type, PostgreSQL/SQLite type and logical kind.

    The kind drives the checksum's canonical form, so that a timestamp read back as text from
    SQLite, or as a UTC-aware timestamp from dlt, hashes the same as the source.
    """

    name: str
    arrow: pa.DataType
    pg: str
    sqlite: str
    kind: str  # one of: int, float, bool, string, timestamp, date


COLUMNS: tuple[Column, ...] = (
    Column("id", pa.int64(), "bigint", "INTEGER", "int"),
    Column("customer_id", pa.int64(), "bigint", "INTEGER", "int"),
    Column("amount", pa.float64(), "double precision", "REAL", "float"),
    Column("quantity", pa.int32(), "integer", "INTEGER", "int"),
    Column("is_active", pa.bool_(), "boolean", "BOOLEAN", "bool"),
    Column("category", pa.string(), "text", "TEXT", "string"),
    Column("comment", pa.string(), "text", "TEXT", "string"),
    Column("created_at", pa.timestamp("us"), "timestamp", "TIMESTAMP", "timestamp"),
    Column("event_date", pa.date32(), "date", "DATE", "date"),
)

SCHEMA = pa.schema([pa.field(c.name, c.arrow, nullable=False) for c in COLUMNS])
COLUMN_NAMES = [c.name for c in COLUMNS]


def dataset_dir(rows: int) -> Path:
    """Cache folder of the data set with ``rows`` rows."""
    return DATA_DIR / f"r{rows}"


def pg_source_table(rows: int) -> str:
    """Name of the PostgreSQL source table holding ``rows`` rows (public schema)."""
    return f"bench_src_r{rows}"
