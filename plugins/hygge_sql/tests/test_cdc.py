"""postgres_cdc: a source workload of inserts, updates (key changes too), deletes and
multi-table transactions, read by hygge again and again into merge stores (SQLite,
PostgreSQL) and a Parquet change log; the snapshot handover; kills at every commit step.

Each test works in a schema of its own and drops its slots and publications afterwards:
slots hold WAL on the shared server.
"""

from __future__ import annotations

import json
import pathlib
import random
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml
from hygge_sql.cdc.pgoutput import parse_lsn

from hygge_core.changes import DELETE, latest_changes
from hygge_core.testing import FlowHarness, Kill, kill_points, need_module, run_hygge
from hygge_core.testing.kills import run_flows

psycopg = need_module("psycopg")


class Source:
    """The source tables `a` and `b` in the test's schema, and the changes made to them."""

    def __init__(self, dsn: str, schema: str, seed: int = 1) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.schema = schema
        self.rng = random.Random(seed)
        # Row changes made per table, a key change counting twice (delete + insert).
        self.changes = {"a": 0, "b": 0}
        self.next_id = 1
        self.conn.execute(
            f"CREATE TABLE {schema}.a (id int PRIMARY KEY, v text, n numeric(12,2), "
            f"ts timestamptz, flag bool)"
        )
        self.conn.execute(f"CREATE TABLE {schema}.b (id int PRIMARY KEY, a_id int, qty bigint)")

    def insert(self, rows: int) -> None:
        with self.conn.transaction():
            for _ in range(rows):
                self._insert_a()
                self.conn.execute(
                    f"INSERT INTO {self.schema}.b VALUES (%s, %s, %s)",
                    (self.next_id, self.next_id - 1, self.rng.randint(-5, 5)),
                )
                self.changes["b"] += 1

    def _insert_a(self) -> None:
        i = self.next_id
        self.next_id += 1
        self.conn.execute(
            f"INSERT INTO {self.schema}.a VALUES (%s, %s, %s, now(), %s)",
            (i, f"v{i}", round(self.rng.uniform(-999, 999), 2), i % 3 == 0),
        )
        self.changes["a"] += 1

    def ids(self, table: str) -> list[int]:
        return [r[0] for r in self.conn.execute(f"SELECT id FROM {self.schema}.{table}")]

    def step(self) -> None:
        """One random transaction: updates, a key change, deletes, over both tables."""
        with self.conn.transaction():
            ids = self.ids("a")
            op = self.rng.choice(["update", "key", "delete", "insert", "multi"])
            if op == "insert" or not ids:
                self._insert_a()
                return
            i = self.rng.choice(ids)
            if op == "update":
                self.conn.execute(
                    f"UPDATE {self.schema}.a SET v = v || '+', n = n + 1 WHERE id = %s", (i,)
                )
                self.changes["a"] += 1
            elif op == "key":
                self.conn.execute(
                    f"UPDATE {self.schema}.a SET id = %s WHERE id = %s", (self.next_id, i)
                )
                self.next_id += 1
                self.changes["a"] += 2
            elif op == "delete":
                self.conn.execute(f"DELETE FROM {self.schema}.a WHERE id = %s", (i,))
                self.changes["a"] += 1
            else:  # several rows of both tables in one transaction
                self.conn.execute(f"UPDATE {self.schema}.a SET flag = NOT flag WHERE id = %s", (i,))
                self.changes["a"] += 1
                self.changes["b"] += self.conn.execute(
                    f"UPDATE {self.schema}.b SET qty = qty + 1 WHERE a_id <= %s", (i,)
                ).rowcount
                self._insert_a()

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        columns = "id, v, n, ts, flag" if table == "a" else "id, a_id, qty"
        return self.conn.execute(
            f"SELECT {columns} FROM {self.schema}.{table} ORDER BY id"
        ).fetchall()


@pytest.fixture
def pg_dsn() -> str:
    import os

    dsn = os.environ.get("HYGGE_TEST_PG_DSN")
    if not dsn:
        from hygge_core.testing import missing

        missing("PostgreSQL not running (HYGGE_TEST_PG_DSN)")
    return dsn


@pytest.fixture
def names(pg_dsn: str) -> Iterator[dict[str, str]]:
    """Unique slot and publication names, dropped after the test."""
    tag = secrets.token_hex(3)
    made = {"tag": tag, "pub": f"hygge_t_pub_{tag}"}
    yield made
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name LIKE %s AND NOT active",
            (f"hygge_t_%{tag}%",),
        )
        conn.execute(f"DROP PUBLICATION IF EXISTS {made['pub']}")


def slot_name(names: dict[str, str], flow: str) -> str:
    return f"hygge_t_{flow}_{names['tag']}"


def flows_for(tmp: pathlib.Path, pg_url: str, schema: str, names: dict[str, str]) -> dict[str, Any]:
    """Four flows on one publication: a and b into SQLite (merge), a into PostgreSQL
    (merge) and a as a Parquet change log (append). Each flow has its own slot."""

    def home(table: str, flow: str) -> dict[str, Any]:
        return {
            "type": "postgres_cdc",
            "url": pg_url,
            "table": f"{schema}.{table}",
            "publication": names["pub"],
            "slot": slot_name(names, flow),
            "split": {"column": "id", "units": 2},
        }

    lite = f"sqlite:///{tmp / 'merge.db'}"
    merge = {"mode": "merge", "keys": ["id"]}
    return {
        "a_lite": {
            "home": home("a", "a_lite"),
            "store": {"type": "sql", "url": lite, "table": "a", **merge},
        },
        "b_lite": {
            "home": home("b", "b_lite"),
            "store": {"type": "sql", "url": lite, "table": "b", **merge},
        },
        "a_pg": {
            "home": home("a", "a_pg"),
            "store": {"type": "sql", "url": pg_url, "table": f"{schema}.a_copy", **merge},
        },
        "a_log": {
            "home": home("a", "a_log"),
            "store": {"type": "parquet", "path": str(tmp / "a_log"), "mode": "append"},
        },
    }


def assert_converged(
    src: Source, tmp: pathlib.Path, pg_url: str, where: str = "", lite: bool = True
) -> None:
    """The merge stores equal the source; the change log replays to it, each change once.
    `lite`: the SQLite flows ran too."""
    if lite:
        assert_sqlite_converged(src, tmp, where)
    assert_pg_and_log_converged(src, tmp, pg_url, where)


def assert_sqlite_converged(src: Source, tmp: pathlib.Path, where: str) -> None:
    """Both tables in the SQLite merge store equal the source."""
    want_a, want_b = src.rows("a"), src.rows("b")
    lite = sqlite3.connect(tmp / "merge.db")
    got_b = lite.execute("SELECT id, a_id, qty FROM b ORDER BY id").fetchall()
    assert got_b == [tuple(r) for r in want_b], f"{where}: SQLite b differs"
    got_a = lite.execute("SELECT id, v, n FROM a ORDER BY id").fetchall()
    assert [(i, v, float(n)) for i, v, n in got_a] == [(r[0], r[1], float(r[2])) for r in want_a], (
        f"{where}: SQLite a differs"
    )
    lite.close()


def assert_pg_and_log_converged(src: Source, tmp: pathlib.Path, pg_url: str, where: str) -> None:
    """The PostgreSQL merge store equals the source; the log replays to it."""
    want_a = src.rows("a")
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        got = conn.execute(
            sa.text(f"SELECT id, v, n, ts, flag FROM {src.schema}.a_copy ORDER BY id")
        ).all()
    engine.dispose()
    assert [tuple(r) for r in got] == [tuple(r) for r in want_a], f"{where}: PostgreSQL differs"
    log = pq.read_table(tmp / "a_log")
    snapshot_lsn = min(log["_lsn"].to_pylist())
    changes = log.filter(pc.greater(log["_lsn"], snapshot_lsn))
    pairs = list(zip(changes["_lsn"].to_pylist(), changes["_seq"].to_pylist(), strict=True))
    assert len(pairs) == len(set(pairs)), f"{where}: a change landed twice in the log"
    last = latest_changes(log, ["id"])
    kept = last.filter(pc.not_equal(last["_op"], DELETE)).sort_by("id")
    assert kept.select(["id", "v"]).to_pylist() == [{"id": r[0], "v": r[1]} for r in want_a], (
        f"{where}: the change log does not replay to the source"
    )


@pytest.fixture
def source(pg_dsn: str, pg_schema: str) -> Iterator[Source]:
    src = Source(pg_dsn, pg_schema)
    yield src
    src.conn.close()


def test_workload_lands_exactly_in_merge_stores_and_change_log(
    tmp_path: pathlib.Path, pg_url: str, source: Source, names: dict[str, str]
) -> None:
    source.insert(30)
    source.conn.execute(
        f"CREATE PUBLICATION {names['pub']} FOR TABLE {source.schema}.a, {source.schema}.b"
    )
    harness = FlowHarness(tmp_path)
    flows = flows_for(tmp_path, pg_url, source.schema, names)
    at_snapshot = source.changes["a"]
    harness.run_ok(flows)
    for round_ in range(6):
        for _ in range(15):
            source.step()
        if round_ % 2:  # changes also land while hygge runs
            writer = threading.Thread(target=lambda: [source.step() for _ in range(10)])
            writer.start()
            harness.run_ok(flows)
            writer.join()
        else:
            harness.run_ok(flows)
    harness.run_ok(flows)
    assert_converged(source, tmp_path, pg_url)
    # The log holds the snapshot (30 rows) and every later change of a exactly once.
    log = pq.read_table(tmp_path / "a_log")
    first = min(log["_lsn"].to_pylist())
    assert log.filter(pc.equal(log["_lsn"], first)).num_rows == 30
    assert log.filter(pc.greater(log["_lsn"], first)).num_rows == source.changes["a"] - at_snapshot
    # The slots were moved to, and not past, what each store committed.
    with psycopg.connect(source.conn.info.dsn, autocommit=True) as conn:
        confirmed = conn.execute(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
            (slot_name(names, "a_log"),),
        ).fetchone()[0]
    assert parse_lsn(confirmed) == max(log["_lsn"].to_pylist())


def test_snapshot_handover_neither_loses_nor_doubles(
    tmp_path: pathlib.Path,
    pg_url: str,
    source: Source,
    names: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows changed while the initial snapshot is read reach the stores once: the snapshot
    shows them as they were at the slot's creation, the stream brings each change."""
    from hygge_sql.cdc.home import PostgresCdcHome

    source.insert(200)
    source.conn.execute(
        f"CREATE PUBLICATION {names['pub']} FOR TABLE {source.schema}.a, {source.schema}.b"
    )
    as_created = source.rows("a")
    at_snapshot = source.changes["a"]
    read = PostgresCdcHome._read_snapshot
    done = threading.Lock()

    def writing_meanwhile(self: PostgresCdcHome, unit: Any) -> Any:
        # The change log's first snapshot unit commits changes to rows the snapshot still
        # reads (the other flows made their slots, and snapshots, at other moments).
        if self.context.flow == "a_log" and done.acquire(blocking=False):
            for _ in range(40):
                source.step()
        yield from read(self, unit)

    monkeypatch.setattr(PostgresCdcHome, "_read_snapshot", writing_meanwhile)
    harness = FlowHarness(tmp_path)
    flows = flows_for(tmp_path, pg_url, source.schema, names)
    harness.run_ok(flows)
    assert source.changes["a"] - at_snapshot >= 40
    log = pq.read_table(tmp_path / "a_log")
    first = min(log["_lsn"].to_pylist())
    snapshot = log.filter(pc.equal(log["_lsn"], first)).sort_by("id")
    assert snapshot.select(["id", "v"]).to_pylist() == [
        {"id": r[0], "v": r[1]} for r in as_created
    ], "the snapshot saw changes committed after the slot was created"
    harness.run_ok(flows)
    assert_converged(source, tmp_path, pg_url)
    log = pq.read_table(tmp_path / "a_log")
    assert log.filter(pc.greater(log["_lsn"], first)).num_rows == source.changes["a"] - at_snapshot


KILL_AT = (
    "commit.start",
    "commit.published",
    "commit.state-written",
    "commit.committed",
    "commit.done",
)


def committed_and_confirmed(path: pathlib.Path, names: dict[str, str], dsn: str) -> list[str]:
    """Flows whose slot was moved past the LSN their store committed (must be none)."""
    shown = run_hygge("state", "show", str(path), "--json")
    assert shown.returncode == 0, shown.stderr
    states = json.loads(shown.stdout)
    bad = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for flow, state in states.items():
            row = conn.execute(
                "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
                (slot_name(names, flow),),
            ).fetchone()
            if row is None or state is None or state.get("cursor") is None:
                continue  # no slot yet, or nothing committed: nothing to compare
            if parse_lsn(row[0]) > int(state["cursor"]["value"]):
                bad.append(f"{flow}: slot at {row[0]}, store committed {state['cursor']['value']}")
    return bad


def write_until(source: Source, stop: threading.Event) -> None:
    """The source workload, running until `stop` is set."""
    while not stop.wait(0.02):
        source.step()


def kill_loop(
    tmp: pathlib.Path, pg_url: str, source: Source, names: dict[str, str], points: int
) -> None:
    """Kill runs at every commit step and at random instants while the source changes;
    after each kill the slot has not passed the store's committed LSN, and the rerun
    converges exactly (the stores equal the source, the log holds each change once)."""
    rng = random.Random(f"cdc-{points}")
    source.insert(20)
    source.conn.execute(
        f"CREATE PUBLICATION {names['pub']} FOR TABLE {source.schema}.a, {source.schema}.b"
    )
    # The PostgreSQL merge store (one transaction) and the Parquet log (a commit record):
    # the two ways a store commits; the SQLite flows add time, not another protocol.
    every = flows_for(tmp, pg_url, source.schema, names)
    path = tmp / "flows.yaml"
    path.write_text(yaml.safe_dump({"flows": {n: every[n] for n in ("a_pg", "a_log")}}))
    dsn = source.conn.info.dsn
    for k in range(points):
        if k < len(KILL_AT) or rng.random() < 0.5:
            kill = Kill(point=KILL_AT[k % len(KILL_AT)], nth=rng.randint(1, 2))
        else:
            kill = Kill(delay=rng.uniform(0.05, 1.5))
        stop = threading.Event()
        writer = threading.Thread(target=write_until, args=(source, stop))
        writer.start()
        try:  # the source keeps changing while the run is killed
            killed = run_flows(path, kill=kill, timeout=300)
        finally:
            stop.set()
            writer.join()
        where = f"point {k}: {kill.describe()} (exit {killed.returncode})"
        bad = committed_and_confirmed(path, names, dsn)
        assert not bad, f"{where}: " + "; ".join(bad)
        rerun = run_flows(path, timeout=300)
        assert rerun.returncode == 0, f"{where}: rerun failed\n{rerun.stderr}"
        assert not committed_and_confirmed(path, names, dsn), where
        assert_converged(source, tmp, pg_url, where, lite=False)


def test_kill_loop(
    tmp_path: pathlib.Path, pg_url: str, source: Source, names: dict[str, str]
) -> None:
    kill_loop(tmp_path, pg_url, source, names, kill_points(default=len(KILL_AT)))


@pytest.mark.stress
def test_kill_loop_stress(
    tmp_path: pathlib.Path, pg_url: str, source: Source, names: dict[str, str]
) -> None:
    kill_loop(tmp_path, pg_url, source, names, max(50, kill_points(default=50)))


def test_dropped_slot_is_reported_with_the_way_out(
    tmp_path: pathlib.Path, pg_url: str, source: Source, names: dict[str, str]
) -> None:
    source.insert(3)
    source.conn.execute(f"CREATE PUBLICATION {names['pub']} FOR TABLE {source.schema}.a")
    flows = {"a_log": flows_for(tmp_path, pg_url, source.schema, names)["a_log"]}
    path = tmp_path / "flows.yaml"
    path.write_text(yaml.safe_dump({"flows": flows}))
    assert run_hygge("run", str(path)).returncode == 0
    shown = run_hygge("state", "show", str(path))
    assert f"slot {slot_name(names, 'a_log')}: confirmed LSN" in shown.stdout
    assert "lag " in shown.stdout and "committed LSN" in shown.stdout
    source.conn.execute("SELECT pg_drop_replication_slot(%s)", (slot_name(names, "a_log"),))
    failed = run_hygge("run", str(path))
    assert failed.returncode == 1
    text = failed.stdout + failed.stderr
    assert f"replication slot '{slot_name(names, 'a_log')}' is gone (dropped)" in text
    assert "Way out: hygge state reset <flows file> --flow a_log, then run the flow" in text
    assert "Traceback" not in text
    before = pq.read_table(tmp_path / "a_log").num_rows
    assert run_hygge("state", "reset", str(path), "--flow", "a_log").returncode == 0
    assert run_hygge("run", str(path)).returncode == 0  # a new slot and a new snapshot
    assert pq.read_table(tmp_path / "a_log").num_rows == before + 3


def test_validate_connect_checks_the_publication(
    tmp_path: pathlib.Path, pg_url: str, source: Source, names: dict[str, str]
) -> None:
    source.conn.execute(f"CREATE PUBLICATION {names['pub']} FOR TABLE {source.schema}.b")
    flows = {"a_log": flows_for(tmp_path, pg_url, source.schema, names)["a_log"]}
    path = tmp_path / "flows.yaml"
    path.write_text(yaml.safe_dump({"flows": flows}))
    checked = run_hygge("validate", str(path), "--connect")
    assert checked.returncode == 1
    assert (
        f"publication '{names['pub']}' does not publish {source.schema}.a; ALTER PUBLICATION"
        in checked.stdout
    )
    source.conn.execute(f"ALTER PUBLICATION {names['pub']} ADD TABLE {source.schema}.a")
    assert run_hygge("validate", str(path), "--connect").returncode == 0


def test_a_first_run_on_an_empty_table_keeps_its_slot(
    tmp_path: pathlib.Path, pg_url: str, source: Source, names: dict[str, str]
) -> None:
    """The first run commits nothing (no row, so no _lsn): the next run must continue from
    the slot it made, not make a new one and lose the changes in between."""
    source.conn.execute(f"CREATE PUBLICATION {names['pub']} FOR TABLE {source.schema}.a")
    flow = flows_for(tmp_path, pg_url, source.schema, names)["a_log"]
    flow["home"]["snapshot"] = False
    path = tmp_path / "flows.yaml"
    path.write_text(yaml.safe_dump({"flows": {"a_log": flow}}))
    assert run_hygge("run", str(path)).returncode == 0
    source.insert(5)
    done = run_hygge("run", str(path))
    assert done.returncode == 0, done.stderr
    log = pq.read_table(tmp_path / "a_log")
    assert sorted(log["id"].to_pylist()) == [1, 2, 3, 4, 5]
    assert set(log["_op"].to_pylist()) == {"insert"}


def test_preview_touches_no_slot(
    tmp_path: pathlib.Path, pg_url: str, source: Source, names: dict[str, str]
) -> None:
    """`hygge preview` shows the table as inserts; it neither makes nor moves a slot (a new
    slot for a committed flow would have skipped its pending changes)."""
    source.insert(3)
    source.conn.execute(f"CREATE PUBLICATION {names['pub']} FOR TABLE {source.schema}.a")
    flows = {"a_log": flows_for(tmp_path, pg_url, source.schema, names)["a_log"]}
    path = tmp_path / "flows.yaml"
    path.write_text(yaml.safe_dump({"flows": flows}))

    def confirmed() -> str | None:
        row = source.conn.execute(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
            (slot_name(names, "a_log"),),
        ).fetchone()
        return row[0] if row else None

    shown = run_hygge("preview", str(path), "--flow", "a_log")
    assert shown.returncode == 0, shown.stderr
    assert "insert" in shown.stdout and confirmed() is None
    assert run_hygge("run", str(path)).returncode == 0
    before = confirmed()
    source.step()
    assert run_hygge("preview", str(path), "--flow", "a_log").returncode == 0
    assert confirmed() == before
    assert run_hygge("run", str(path)).returncode == 0
    log = pq.read_table(tmp_path / "a_log")
    assert log.num_rows == source.changes["a"]  # the snapshot (3 inserts), then each change


def test_truncate_and_unchanged_large_values_are_reported_with_the_way_out(
    tmp_path: pathlib.Path, pg_url: str, source: Source, names: dict[str, str]
) -> None:
    schema = source.schema
    source.conn.execute(f"CREATE TABLE {schema}.big (id int PRIMARY KEY, n int, doc text)")
    # Random text does not compress: PostgreSQL moves it out of line (TOAST).
    source.conn.execute(
        f"INSERT INTO {schema}.big SELECT 1, 0, string_agg(md5(random()::text), '') "
        "FROM generate_series(1, 400)"
    )
    source.conn.execute(f"CREATE PUBLICATION {names['pub']} FOR TABLE {schema}.big")
    flow = flows_for(tmp_path, pg_url, schema, names)["a_log"]
    flow["home"]["table"] = f"{schema}.big"
    path = tmp_path / "flows.yaml"
    path.write_text(yaml.safe_dump({"flows": {"a_log": flow}}))
    assert run_hygge("run", str(path)).returncode == 0
    source.conn.execute(f"UPDATE {schema}.big SET n = 1")
    failed = run_hygge("run", str(path))
    assert failed.returncode == 1
    assert (
        f"table '{schema}.big': an UPDATE left large (TOASTed) column(s) doc unchanged"
        in failed.stdout + failed.stderr
    )
    assert f"ALTER TABLE {schema}.big REPLICA IDENTITY FULL" in failed.stdout + failed.stderr
    # The way out, as the message says: log whole rows, reset, run (a new snapshot).
    source.conn.execute(f"ALTER TABLE {schema}.big REPLICA IDENTITY FULL")
    assert run_hygge("state", "reset", str(path), "--flow", "a_log").returncode == 0
    assert run_hygge("run", str(path)).returncode == 0
    source.conn.execute(f"UPDATE {schema}.big SET n = 2")
    assert run_hygge("run", str(path)).returncode == 0
    log = pq.read_table(tmp_path / "a_log").filter(pc.equal(pc.field("_op"), "update"))
    want = source.conn.execute(f"SELECT doc FROM {schema}.big").fetchone()[0]
    assert log["n"].to_pylist() == [2] and log["doc"].to_pylist() == [want]
    source.conn.execute(f"TRUNCATE {schema}.big")
    failed = run_hygge("run", str(path))
    assert failed.returncode == 1
    text = failed.stdout + failed.stderr
    assert f"table '{schema}.big' was truncated (at LSN " in text
    assert "a TRUNCATE is not a row change a store can apply. Way out: hygge state reset" in text


def test_a_slot_still_held_by_a_killed_run_is_retried() -> None:
    """Found by the stress kill loop: right after a SIGKILL the server process of the killed
    run may still hold the slot ("is active for PID ..."); that passes, so it is retried."""
    from hygge_sql.errors import is_transient

    assert is_transient(psycopg.errors.ObjectInUse('replication slot "s" is active for PID 7'))
