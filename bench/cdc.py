"""The CDC benchmark: N changes from a PostgreSQL slot applied to a PostgreSQL merge target,
hygge's `postgres_cdc` → `sql` (mode: merge) against a reference consumer written by hand
(bench/programs/pgoutput_copy_pg.py: pg_logical_slot_get_binary_changes + a dict of the
last change per key + COPY, DELETE, INSERT).

Each program gets its own slot, created before the changes are made, and its own target;
both start from an empty source table. The changes: 60% inserts, 30% updates, 10% deletes,
in transactions of 100,000 rows. Both targets must then equal the source (an md5 of every
row in key order), else the run fails. Usage:

    .venv/bin/python bench/cdc.py --changes 1000000 [--pg-dsn DSN] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import psycopg
import yaml

HERE = pathlib.Path(__file__).resolve().parent
# Everything lives in a schema of its own, dropped before and after: the tables, and the
# state table hygge keeps beside its target (never the shared default schema's).
SCHEMA = "bench_cdc"
SOURCE, PUB = f"{SCHEMA}.src", "bench_cdc_pub"
HYGGE_OUT, REF_OUT = f"{SCHEMA}.out_hygge", f"{SCHEMA}.out_ref"
COLUMNS = "id bigint PRIMARY KEY, customer_id bigint, amount float8, comment text"


def dsn_from(args: argparse.Namespace) -> str:
    dsn = args.pg_dsn or os.environ.get("HYGGE_BENCH_PG_DSN") or os.environ.get("HYGGE_TEST_PG_DSN")
    if not dsn:
        sys.exit("no PostgreSQL: pass --pg-dsn or source /tmp/hygge-services/services.env")
    return dsn


def reset(conn: psycopg.Connection, slots: list[str]) -> None:
    for slot in slots:
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name = %s",
            (slot,),
        )
    conn.execute(f"DROP PUBLICATION IF EXISTS {PUB}")
    conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def make_changes(conn: psycopg.Connection, changes: int) -> None:
    """60% inserts, 30% updates of inserted rows, 10% deletes, 100k rows a transaction."""
    inserts, updates, deletes = changes * 6 // 10, changes * 3 // 10, changes // 10
    step = 100_000
    for lo in range(0, inserts, step):
        hi = min(inserts, lo + step)
        conn.execute(
            f"INSERT INTO {SOURCE} SELECT g, g % 1000, g * 0.25, md5(g::text) "
            f"FROM generate_series({lo}, {hi - 1}) g"
        )
    for lo in range(0, updates * 2, step * 2):  # every even id
        conn.execute(
            f"UPDATE {SOURCE} SET amount = amount + 1, comment = 'u' || comment "
            f"WHERE id >= {lo} AND id < {min(updates * 2, lo + step * 2)} AND id % 2 = 0"
        )
    for lo in range(0, deletes * 6, step * 6):  # every sixth id, from 1
        conn.execute(
            f"DELETE FROM {SOURCE} WHERE id >= {lo} AND id < {min(deletes * 6, lo + step * 6)} "
            "AND id % 6 = 1"
        )


def digest(conn: psycopg.Connection, table: str) -> tuple[int, str]:
    return conn.execute(
        f"SELECT count(*), md5(string_agg(concat_ws('|', id, customer_id, amount, comment), "
        f"',' ORDER BY id)) FROM {table}"
    ).fetchone()


def timed(argv: list[str]) -> tuple[float, int]:
    """Seconds and peak RSS (bytes) of a whole process."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    out = proc.stdout.read() if proc.stdout else ""
    if status != 0:
        sys.exit(f"{argv[:3]} failed:\n{out}")
    return seconds, usage.ru_maxrss * 1024


def one_run(dsn: str, changes: int, tmp: pathlib.Path) -> dict[str, float]:
    hygge_slot, ref_slot = "bench_cdc_hygge_slot", "bench_cdc_ref_slot"
    conn = psycopg.connect(dsn, autocommit=True)
    reset(conn, [hygge_slot, ref_slot])
    conn.execute(f"CREATE SCHEMA {SCHEMA}")
    conn.execute(f"CREATE TABLE {SOURCE} ({COLUMNS})")
    conn.execute(f"CREATE TABLE {REF_OUT} ({COLUMNS})")
    conn.execute(f"CREATE PUBLICATION {PUB} FOR TABLE {SOURCE}")
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    url = (
        f"postgresql+psycopg://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:"
        f"{info.get('port', 5432)}/{info['dbname']}"
    )
    flows = tmp / "flows.yaml"
    home = {
        "type": "postgres_cdc",
        "url": url,
        "table": SOURCE,
        "publication": PUB,
        "slot": hygge_slot,
        "snapshot": False,
    }
    store = {"type": "sql", "url": url, "table": HYGGE_OUT, "mode": "merge", "keys": ["id"]}
    flows.write_text(yaml.safe_dump({"flows": {"cdc": {"home": home, "store": store}}}))
    hygge = [str(pathlib.Path(sys.executable).parent / "hygge"), "run", str(flows)]
    timed(hygge)  # the first run makes the slot (empty table: nothing to copy)
    conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (ref_slot,))
    make_changes(conn, changes)
    conn.execute("CHECKPOINT")
    want = digest(conn, SOURCE)
    ref = [
        sys.executable,
        str(HERE / "programs" / "pgoutput_copy_pg.py"),
        dsn,
        ref_slot,
        PUB,
        SOURCE.split(".")[1],  # as pgoutput names it (the schema apart)
        REF_OUT,
        "id",
    ]
    ref_seconds, ref_rss = timed(ref)
    hygge_seconds, hygge_rss = timed(hygge)
    for table in (HYGGE_OUT, REF_OUT):
        got = digest(conn, table)
        if got != want:
            sys.exit(f"{table} differs from the source: {got} != {want}")
    reset(conn, [hygge_slot, ref_slot])
    conn.close()
    return {
        "hygge_s": hygge_seconds,
        "ref_s": ref_seconds,
        "hygge_rss": hygge_rss,
        "ref_rss": ref_rss,
        "rows": want[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--pg-dsn")
    args = parser.parse_args()
    dsn = dsn_from(args)
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            r = one_run(dsn, args.changes, pathlib.Path(tmp))
        print(
            f"run {i + 1}: {args.changes:,} changes ({r['rows']:,} rows left), verified: "
            f"hygge {r['hygge_s']:.2f}s (peak RSS {r['hygge_rss'] / 2**20:.0f} MiB), "
            f"reference {r['ref_s']:.2f}s (peak RSS {r['ref_rss'] / 2**20:.0f} MiB), "
            f"ratio {r['hygge_s'] / r['ref_s']:.2f}x"
        )


if __name__ == "__main__":
    main()
