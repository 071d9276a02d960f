"""`checks:` end to end through the CLI: an error-severity failure publishes nothing and
moves no state (every store byte identical, exit 1, the report), a warning commits and is
reported in text and JSON, and `unique` spans every unit of the run within its memory bound."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pathlib
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import run_cli, run_measured

UTC = dt.UTC


def people() -> pa.Table:
    """Real-looking rows: NULLs, unicode, decimals, timestamps with a time zone."""
    return pa.table(
        {
            "id": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
            "name": ["Åsa", "Bjørn", "李雷", None, "Zoë", "naïve café"],
            "email": ["asa@x.dk", "bjorn@x.no", "li@x.cn", "d@x", None, "cafe@x.fr"],
            "status": ["new", "paid", "paid", "void", "new", "refund"],
            "amount": pa.array(
                [
                    Decimal("10.50"),
                    Decimal("0.00"),
                    Decimal("99.99"),
                    None,
                    Decimal("-5.00"),
                    Decimal("12.00"),
                ],
                pa.decimal128(10, 2),
            ),
            "updated": pa.array(
                [dt.datetime(2026, 1, d, 12, tzinfo=UTC) for d in range(1, 7)],
                pa.timestamp("us", tz="Europe/Copenhagen"),
            ),
        }
    )


def setup(tmp_path: pathlib.Path, checks: str, extra: str = "") -> pathlib.Path:
    (tmp_path / "in").mkdir(exist_ok=True)
    pq.write_table(people(), tmp_path / "in" / "people.parquet")
    path = tmp_path / "flows.yaml"
    path.write_text(
        f"flows:\n  people:\n    home: {tmp_path}/in/\n    store: {tmp_path}/out/\n"
        f"{extra}    checks:\n{checks}"
    )
    return path


def store_bytes(root: pathlib.Path) -> dict[str, str]:
    """Every file under the store (data, state, commit records) and its sha256."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_a_failing_error_check_leaves_the_store_byte_identical(tmp_path: pathlib.Path) -> None:
    """Every data file is byte-identical and the committed state (cursor, successful runs)
    has not moved; the one change is the failed run kept in the flow's history (which
    `hygge history` shows), holding the same report."""
    path = setup(tmp_path, "      - not_null: [id]\n")
    assert run_cli("run", str(path)).code == 0  # a first load, with state
    before = store_bytes(tmp_path / "out")
    state_before = json.loads(run_cli("state", "show", str(path), "--json").out)["people"]
    path.write_text(
        path.read_text().replace(
            "      - not_null: [id]\n",
            "      - not_null: [id]\n"
            "      - not_null: [name, email]\n"
            "      - accepted_values: {column: status, values: [new, paid, refund]}\n",
        )
    )
    done = run_cli("run", str(path))
    assert done.code == 1, done.text
    report = (
        "2 check(s) of severity error failed, nothing was committed: "
        f"check not_null(name, email) ({path}:7): 2 of 6 row(s) fail, e.g. "
        "name=NULL, email='d@x'; name='Zoë', email=NULL; "
        f"check accepted_values(status) ({path}:8): 1 of 6 row(s) fail, e.g. status='void'"
    )
    assert f"[people] FAILED: {report}" in done.err
    assert "Traceback" not in done.text
    after = store_bytes(tmp_path / "out")
    data = {k: v for k, v in after.items() if not k.startswith("_hygge/state/")}
    assert data == {k: v for k, v in before.items() if not k.startswith("_hygge/state/")}
    assert set(after) == set(before)  # no staging or spill file left behind
    state = json.loads(run_cli("state", "show", str(path), "--json").out)["people"]
    assert state["cursor"] == state_before["cursor"]
    assert state["runs"][:-1] == state_before["runs"]
    failed = state["runs"][-1]
    assert (failed["status"], failed["rows"], failed["error"]) == ("failed", 0, report)


def test_a_warning_commits_and_is_reported_in_text_and_json(tmp_path: pathlib.Path) -> None:
    checks = (
        "      - range: {column: amount, min: 0, max: 100, severity: warn}\n"
        "      - regex: {column: email, pattern: '^[^@]+@[^@]+[.][a-z]+$', severity: warn}\n"
    )
    path = setup(tmp_path, checks)
    done = run_cli("run", str(path))
    assert done.code == 0, done.text
    assert pq.read_table(tmp_path / "out").num_rows == 6
    assert (
        f"[people] warning: check range(amount) ({path}:6): 1 of 6 row(s) fail, e.g. "
        "amount=-5.00; committed anyway"
    ) in done.err
    assert "check regex(email)" in done.err and "e.g. email='d@x'" in done.err
    again = run_cli("run", str(path), "--log-format", "json")
    assert again.code == 0, again.text
    summary = json.loads(again.out)
    (flow,) = summary["flows"]
    assert flow["status"] == "ok"
    assert flow["checks"][0] == {
        "name": "range(amount)",
        "check": "range",
        "severity": "warn",
        "passed": False,
        "rows": 6,
        "failed": 1,
        "examples": ["amount=-5.00"],
        "detail": "",
        "where": f"{path}:6",
    }
    notes = [json.loads(line) for line in again.err.splitlines() if line.startswith("{")]
    assert any(
        n["event"] == "note" and n["message"].startswith("warning: check range(amount)")
        for n in notes
    )


def test_every_check_on_real_data(tmp_path: pathlib.Path) -> None:
    """Each built-in check, passing and failing, on nulls, unicode, decimals and tz-aware
    timestamps; warn severity so that one run reports them all."""
    checks = "".join(
        f"      - {c}\n"
        for c in [
            "not_null: {columns: [id], severity: warn}",
            "not_null: {columns: [name], severity: warn}",
            "unique: {columns: [status], severity: warn}",
            "unique: {columns: [id], severity: warn}",
            "accepted_values: {column: name, values: ['Åsa', 'Bjørn', '李雷', 'Zoë',"
            " 'naïve café'], severity: warn}",
            "range: {column: updated, min: '2026-01-02T00:00:00+00:00', severity: warn}",
            "regex: {column: name, pattern: '^[A-Za-zÅøë ]+$', severity: warn}",
            "row_count: {min: 7, severity: warn}",
            "row_count: {max: 6, severity: warn}",
            "freshness: {column: updated, max_age: 1d, severity: warn}",
            "expression: {expression: 'amount >= 0 or status = ''void''', severity: warn}",
        ]
    )
    path = setup(tmp_path, checks)
    done = run_cli("run", str(path), "--log-format", "json")
    assert done.code == 0, done.text
    got = {
        (c["name"], c["failed"]): sorted(c["examples"])
        for c in json.loads(done.out)["flows"][0]["checks"]
    }
    assert got == {
        ("not_null(id)", 0): [],
        ("not_null(name)", 1): ["name=NULL"],
        ("unique(status)", 2): ["status='new' (2 rows)", "status='paid' (2 rows)"],
        ("unique(id)", 0): [],
        ("accepted_values(name)", 0): [],
        ("range(updated)", 1): ["updated=2026-01-01 13:00:00+01:00"],
        ("regex(name)", 2): ["name='naïve café'", "name='李雷'"],
        ("row_count", 1): [],
        ("row_count", 0): [],
        ("freshness(updated)", 1): [],
        ("expression(amount >= 0 or status = 'void')", 1): ["amount=-5.00, status='new'"],
    }


def unique_over_units(tmp_path: pathlib.Path, rows: int, files: int) -> None:
    """`rows` in `files` Parquet files (one unit each); the last file repeats one id of the
    first. The run must fail on exactly that duplicate, within the memory bound."""
    per = rows // files
    (tmp_path / "in").mkdir()
    for i in range(files):
        ids = np.arange(i * per, (i + 1) * per, dtype=np.int64)
        if i == files - 1:
            ids[-1] = 12_345  # also in file 0
        pq.write_table(pa.table({"id": ids, "v": ids % 7}), tmp_path / "in" / f"p{i:02d}.parquet")
    path = tmp_path / "flows.yaml"
    path.write_text(
        f"memory: 64MB\nflows:\n  big:\n    home: {tmp_path}/in/\n    store: {tmp_path}/out/\n"
        "    checks:\n      - unique: {columns: [id], buckets: 64}\n"
    )
    done, peak = run_measured("run", str(path), cwd=tmp_path, env={"TMPDIR": str(tmp_path)})
    assert done.code == 1, done.text
    assert (
        f"check unique(id) ({path}:7): 1 of {rows:,} row(s) repeat the key of another "
        "row, e.g. id=12345 (2 rows)"
    ) in done.err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.parquet"))
    assert not list(tmp_path.glob("hygge_staging/checks/*/*")), "spill files are removed"
    # Combining holds one of 64 buckets' hashes at a time (20M rows: about 7.5 MB); the
    # rest is the run's 64 MB budget, the interpreter and Arrow.
    assert peak < 400 << 20, f"peak RSS {peak >> 20} MiB"


@pytest.mark.timeout(300)
def test_unique_spans_all_units_and_finds_one_duplicate_in_the_last(
    tmp_path: pathlib.Path,
) -> None:
    unique_over_units(tmp_path, 2_000_000, 20)


@pytest.mark.stress
@pytest.mark.timeout(1200)
def test_unique_over_20m_rows_stays_in_budget(
    tmp_path: pathlib.Path, request: pytest.FixtureRequest
) -> None:
    """The issue's size: 20M rows over 40 units (scripts/stress.sh, or pytest -m stress)."""
    if "stress" not in (request.config.option.markexpr or ""):
        pytest.skip("a stress test: run it with -m stress (scripts/stress.sh)")
    unique_over_units(tmp_path, 20_000_000, 40)


def test_unique_spill_survives_a_hash_collision(tmp_path: pathlib.Path) -> None:
    """Keys whose hashes collide are not duplicates: the keys themselves decide."""
    from hygge_core.checks import Unique, UniqueConfig, UnitScope

    check = Unique(UniqueConfig(columns=["k"], spill=str(tmp_path), buckets=1), label="u")
    partial = check.start(UnitScope("f", "r", "u", 0))
    import hygge_core.uniqueness as uq

    real = uq.hash_columns
    try:
        uq.hash_columns = lambda cols, seed=0: np.zeros(len(cols[0]), np.uint64)  # all collide
        batch = pa.record_batch({"k": ["a", "b", "c", "a"]})
        partial["rows"] += 4
        check.observe(partial, batch)
        check.finish(partial)
    finally:
        uq.hash_columns = real
    outcome = check.combine([partial])
    assert (outcome.failed, outcome.examples) == (1, ["k='a' (2 rows)"])


def test_regex_on_a_category_column_matches_once_per_value() -> None:
    """A low-cardinality text column (and a dictionary column) is matched per distinct
    value: the same failures, counts and examples as matching every row."""
    from hygge_core.checks import Regex, RegexConfig, UnitScope

    values = [f"cat-{i % 40}" for i in range(10_000)]
    values[7_777], values[9_000], values[5] = "Bad one", None, ""
    for column in (pa.array(values), pa.array(values).dictionary_encode()):
        check = Regex(RegexConfig(column="c", pattern="^cat-[0-9]+$"), label="r")
        partial = check.start(UnitScope("f", "r", "u", 0))
        check.observe(partial, pa.record_batch({"c": column}))
        assert (partial["failed"], partial["examples"]) == (2, ["c=''", "c='Bad one'"])


def unique_outcome(
    tmp_path: pathlib.Path,
    units: list[list[pa.RecordBatch]],
    columns: list[str],
    buckets: int = 8,
    held: bool = False,
) -> tuple[int, list[str]]:
    """Run the `unique` check over `units` (each a list of batches) as the runner does:
    a partial per unit, every batch observed, the unit finished, then combined. `held`:
    no `spill:` folder, so units of this process may keep their keys in memory."""
    import tempfile

    from hygge_core import uniqueness
    from hygge_core.checks import Unique, UniqueConfig, UnitScope

    tempfile.tempdir = str(tmp_path)  # the default spill folder (restored below)
    try:
        spill = None if held else str(tmp_path)
        check = Unique(UniqueConfig(columns=columns, spill=spill, buckets=buckets), label="u")
        partials = []
        for seq, batches in enumerate(units):
            partial = check.start(UnitScope("f", "r", f"u{seq}", seq))
            for batch in batches:
                partial["rows"] += batch.num_rows
                check.observe(partial, batch)
            check.finish(partial)
            assert check.usable(partial)
            partials.append(partial)
        outcome = check.combine(partials)
        check.cleanup(partials)
    finally:
        tempfile.tempdir = None
    assert not list(tmp_path.rglob("*.bin")), "spill files are removed"
    assert not uniqueness._HELD, "held keys are released"
    return outcome.failed, sorted(outcome.examples)


@pytest.mark.parametrize(
    ("type_", "values", "shown"),
    [
        (pa.int64(), [5, 1, 9, 5], "k=5"),
        (pa.int32(), [-7, 3, -7, 2], "k=-7"),
        (pa.uint64(), [2**64 - 1, 0, 2**64 - 1, 1], f"k={2**64 - 1}"),
        (
            pa.date32(),
            [dt.date(2024, 2, 29), dt.date(1969, 12, 31), dt.date(1969, 12, 31), dt.date(1, 1, 1)],
            "k=1969-12-31",
        ),
        (
            pa.timestamp("us", tz="Europe/Copenhagen"),
            [
                dt.datetime(2024, 3, 31, 1, 30, tzinfo=UTC),
                dt.datetime(2024, 3, 31, 0, 30, tzinfo=UTC),
                dt.datetime(2024, 3, 31, 1, 30, tzinfo=UTC),
                dt.datetime(2024, 10, 27, 1, 30, tzinfo=UTC),
            ],
            "k=2024-03-31 03:30:00+02:00",
        ),
    ],
)
def test_unique_exact_keys_keep_their_type(
    tmp_path: pathlib.Path, type_: pa.DataType, values: list[object], shown: str
) -> None:
    """A one-column integer or temporal key is compared by value (no hash); the example
    shows the key in its own type, also across units and with NULLs skipped."""
    column = pa.array([*values, None, None], type_)
    first, second = column.slice(0, 2), column.slice(2)
    failed, examples = unique_outcome(
        tmp_path, [[pa.record_batch({"k": first})], [pa.record_batch({"k": second})]], ["k"]
    )
    assert failed == 1
    assert examples[0].startswith(shown), examples


def test_unique_sorted_and_unsorted_keys_over_many_flushes(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ascending ids in ascending units need no sort and have no duplicate; one repeated
    id at a unit boundary, and a shuffled unit, are found exactly; several flushes per
    unit (a small buffer) give the same answer as one."""
    import hygge_core.uniqueness as uq

    monkeypatch.setattr(uq, "BUFFER_BYTES", 8 * 1000)  # 1,000 exact words per flush

    def units(ids: np.ndarray, parts: int) -> list[list[pa.RecordBatch]]:
        return [
            [pa.record_batch({"id": c}) for c in np.array_split(u, 7)]
            for u in np.array_split(ids, parts)
        ]

    ids = np.arange(50_000, dtype=np.int64)
    boundary = ids.copy()
    boundary[10_000] = 9_999  # the first id of unit 2 repeats the last of unit 1
    shuffled = np.random.default_rng(7).permutation(ids)
    shuffled[123], shuffled[45_678], shuffled[200] = 42, 42, 43  # 42 and 43 also elsewhere
    values, counts = np.unique(shuffled, return_counts=True)
    want = [f"id={int(v)} ({int(n)} rows)" for v, n in zip(values, counts, strict=True) if n > 1]
    # Spilled; held in memory; held until the run's 150,000 bytes are reached, then spilled.
    for held, memory in ((False, 0), (True, 64 << 20), (True, 150_000)):
        monkeypatch.setattr(uq, "MEMORY_BYTES", memory)
        assert unique_outcome(tmp_path, units(ids, 5), ["id"], held=held) == (0, [])
        assert unique_outcome(tmp_path, units(boundary, 5), ["id"], held=held) == (
            1,
            ["id=9999 (2 rows)"],
        )
        got = unique_outcome(tmp_path, units(shuffled, 3), ["id"], held=held)
        assert got == (int((counts - 1).sum()), sorted(want))


def test_unique_hashed_keys_over_many_flushes(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys of several columns (and text keys) go through the hash and the keys' file:
    duplicates across flushes and units are found and shown with every key column."""
    import hygge_core.uniqueness as uq

    monkeypatch.setattr(uq, "BUFFER_BYTES", 2_000)
    n = 3_000
    a = pa.array([f"k{i % 1000}" for i in range(n)])  # (a, b) repeats every 3,000 rows: never
    b = pa.array(np.arange(n) // 1000, pa.int64())
    batch = pa.record_batch({"a": a, "b": b})
    rows = [[batch.slice(0, 1500), batch.slice(1500)], [batch.slice(10, 1)]]  # one repeat
    text = [[pa.record_batch({"s": ["å", "b", None]})], [pa.record_batch({"s": ["å", "å"]})]]
    for held, memory in ((False, 0), (True, 64 << 20), (True, 60_000)):
        monkeypatch.setattr(uq, "MEMORY_BYTES", memory)
        assert unique_outcome(tmp_path, rows, ["a", "b"], held=held) == (
            1,
            ["a='k10', b=0 (2 rows)"],
        )
        assert unique_outcome(tmp_path, text, ["s"], held=held) == (2, ["s='å' (3 rows)"])


def sqlite_contents(db: pathlib.Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table of the database and all its rows, in order (data and `_hygge_state`)."""
    import sqlite3

    con = sqlite3.connect(db)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: con.execute(f'SELECT * FROM "{n}" ORDER BY 1').fetchall() for n in sorted(names)}
    finally:
        con.close()


def test_a_failing_error_check_leaves_a_sql_store_as_it_was(tmp_path: pathlib.Path) -> None:
    """A database store: the failed run staged into it and aborted; every table (data and
    state) holds exactly what it held, and no staging table is left."""
    db = tmp_path / "lake.db"
    store = f"{{type: sql, url: 'sqlite:///{db}', table: people, mode: append}}"
    (tmp_path / "in").mkdir()
    pq.write_table(people(), tmp_path / "in" / "people.parquet")
    path = tmp_path / "flows.yaml"
    body = f"flows:\n  people:\n    home: {tmp_path}/in/\n    store: {store}\n    checks:\n"
    path.write_text(body + "      - not_null: [id]\n")
    assert run_cli("run", str(path)).code == 0
    before = sqlite_contents(db)
    assert len(before["people"]) == 6
    path.write_text(body + "      - range: {column: amount, min: 0}\n")
    done = run_cli("run", str(path))
    assert done.code == 1, done.text
    assert f"check range(amount) ({path}:6): 1 of 6 row(s) fail, e.g. amount=-5.00" in done.err
    assert sqlite_contents(db) == before


def test_a_failed_unit_leaves_no_spill_behind(tmp_path: pathlib.Path) -> None:
    """A cast that fails in the second unit: what the first unit's unique check spilled is
    removed although no unit's partials came back to the runner."""
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"id": [1, 2], "n": ["1", "2"]}), tmp_path / "in" / "a.parquet")
    pq.write_table(pa.table({"id": [3, 4], "n": ["3", "x"]}), tmp_path / "in" / "b.parquet")
    path = tmp_path / "flows.yaml"
    path.write_text(
        f"flows:\n  f:\n    home: {tmp_path}/in/\n    store: {tmp_path}/out/\n"
        "    transform:\n      - cast: {n: int64}\n"
        f"    checks:\n      - unique: {{columns: [id], spill: {tmp_path}/spill}}\n"
    )
    done = run_cli("run", str(path))
    assert done.code == 1
    assert "value 'x' (row 2 of its batch) cannot become int64" in done.err
    assert (tmp_path / "spill").exists()  # the first unit spilled its keys
    assert not list((tmp_path / "spill").rglob("*.arrow"))
    assert not list((tmp_path / "spill").glob("hygge_staging/checks/f/*"))
