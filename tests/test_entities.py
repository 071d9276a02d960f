"""`entities:` templates: one flow per entity (a list, a SQL query, a glob), each named
TEMPLATE.ENTITY and selectable by `--flow` with a pattern."""

from __future__ import annotations

import pathlib
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import run_cli


def _database(path: pathlib.Path, tables: int) -> None:
    with sqlite3.connect(path) as db:
        for i in range(tables):
            db.execute(f"CREATE TABLE t{i:02d} (id INTEGER PRIMARY KEY, name TEXT)")
            db.executemany(
                f"INSERT INTO t{i:02d} VALUES (?, ?)",
                [(n, f"row {n} of t{i:02d}") for n in range(i + 1)],
            )


def _flows(tmp_path: pathlib.Path, body: str) -> pathlib.Path:
    path = tmp_path / "flows.yaml"
    path.write_text(body)
    return path


SQL_TEMPLATE = """
connections:
  app: {{type: sql, url: "sqlite:///{db}"}}
flows:
  shop:
    entities: {{query: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"}}
    home: {{type: sql, connection: app, table: "{{entity}}"}}
    store: {{type: parquet, path: "{lake}/{{entity}}/", mode: replace}}
"""


def test_a_query_of_twenty_sqlite_tables_loads_all_twenty_in_one_run(
    tmp_path: pathlib.Path,
) -> None:
    _database(tmp_path / "app.db", 20)
    path = _flows(tmp_path, SQL_TEMPLATE.format(db=tmp_path / "app.db", lake=tmp_path / "lake"))
    result = run_cli("run", str(path), cwd=tmp_path)
    assert result.code == 0, result.text
    for i in range(20):
        table = pq.read_table(tmp_path / "lake" / f"t{i:02d}")
        assert table.num_rows == i + 1
        assert sorted(table.column("id").to_pylist()) == list(range(i + 1))
        assert f"[shop.t{i:02d}] committed" in result.err


def test_flow_selects_expanded_flows_by_pattern(tmp_path: pathlib.Path) -> None:
    _database(tmp_path / "app.db", 20)
    path = _flows(tmp_path, SQL_TEMPLATE.format(db=tmp_path / "app.db", lake=tmp_path / "lake"))
    result = run_cli("run", str(path), "--flow", "shop.t1*", cwd=tmp_path)
    assert result.code == 0, result.text
    landed = sorted(p.name for p in (tmp_path / "lake").iterdir())
    assert landed == [f"t{i}" for i in range(10, 20)]
    # The template's name selects all of its flows; a pattern that matches none is refused.
    result = run_cli("run", str(path), "--flow", "shop", "--dry-run", cwd=tmp_path)
    assert result.code == 0, result.text
    assert result.out.count("shop.t") >= 20
    result = run_cli("run", str(path), "--flow", "shap.*", cwd=tmp_path)
    assert result.code == 2
    assert f"no flow named or matching 'shap.*' in {path}" in result.err
    assert "hint: did you mean 'shop'?" in result.err


def test_a_list_and_a_glob_expand_with_the_entity_in_every_value(tmp_path: pathlib.Path) -> None:
    (tmp_path / "in").mkdir()
    for name, rows in (("users", 3), ("orders", 5)):
        pq.write_table(pa.table({"id": list(range(rows))}), tmp_path / "in" / f"{name}.parquet")
    path = _flows(
        tmp_path,
        """
flows:
  listed:
    entities: [users, orders]
    home: in/{entity}.parquet
    store: lake/listed/{entity}/
  found:
    entities: {glob: "in/*.parquet"}
    description: "copy of {entity}"
    home: in/{entity}.parquet
    store: {type: parquet, path: "lake/found/{entity}/"}
""",
    )
    result = run_cli("run", str(path), cwd=tmp_path)
    assert result.code == 0, result.text
    for group in ("listed", "found"):
        assert pq.read_table(tmp_path / "lake" / group / "users").num_rows == 3
        assert pq.read_table(tmp_path / "lake" / group / "orders").num_rows == 5
    assert "[found.orders] committed 5 rows" in result.err
    assert "[found.users] committed 3 rows" in result.err


def test_an_error_in_an_expanded_flow_names_the_entity_at_the_templates_line(
    tmp_path: pathlib.Path,
) -> None:
    path = _flows(
        tmp_path,
        """flows:
  shop:
    entities: [users, "bad name"]
    home: {type: parquet, path: "in/{entity}.parquet", colums: [id]}
    store: lake/{entity}/
""",
    )
    result = run_cli("validate", str(path), cwd=tmp_path)
    assert result.code == 2
    assert result.err.splitlines()[:5] == [
        f"{path}:3:15: flow 'shop' → field 'entities': entity 'bad name' makes the flow name "
        "'shop.bad name', a flow name is 1 to 128 characters: letters, digits, '_', '-' and "
        "'.', starting with a letter, a digit or '_'",
        "    hint: leave it out of the list, the query or the glob",
        f"{path}:4:56: flow 'shop.users' → home → field 'colums': unknown field 'colums'",
        "    hint: did you mean 'columns'?",
        f"2 problems in {path}",
    ]


def test_a_failing_query_is_one_located_problem(tmp_path: pathlib.Path) -> None:
    _database(tmp_path / "app.db", 1)
    path = _flows(
        tmp_path,
        f"""flows:
  shop:
    entities: {{query: "SELECT nme FROM sqlite_master"}}
    home: {{type: sql, url: "sqlite:///{tmp_path / "app.db"}", table: "{{entity}}"}}
    store: lake/{{entity}}/
""",
    )
    result = run_cli("validate", str(path), cwd=tmp_path)
    assert result.code == 2, result.text
    first = result.err.splitlines()[0]
    assert first.startswith(f"{path}:3:15: flow 'shop' → field 'entities': entities: ")
    assert "nme" in first
    assert "Traceback" not in result.err


def test_commands_on_one_flow_refuse_a_pattern_that_matches_several(
    tmp_path: pathlib.Path,
) -> None:
    (tmp_path / "in").mkdir()
    for name in ("users", "orders"):
        pq.write_table(pa.table({"id": [1]}), tmp_path / "in" / f"{name}.parquet")
    path = _flows(
        tmp_path,
        "flows:\n  shop:\n    entities: [users, orders]\n    home: in/{entity}.parquet\n"
        "    store: lake/{entity}/\n",
    )
    result = run_cli("preview", str(path), "--flow", "shop.*", cwd=tmp_path)
    assert result.code == 2
    assert result.err.strip() == (
        "error: --flow shop.* matches 2 flows (shop.users, shop.orders); name one"
    )
    result = run_cli("preview", str(path), "--flow", "shop.u*", cwd=tmp_path)
    assert result.code == 0, result.text
    assert "shop.users: parquet" in result.out
