"""Config a run would silently misuse is refused with exit 2: a store that overlaps its home,
and merge `keys:` on a store whose mode ignores them."""

from __future__ import annotations

import pathlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import run_cli
from tests.test_config_errors import check

HINT = "hint: write the store somewhere else, or set allow_overlap: true on the flow"


@pytest.fixture
def data(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "data" / "raw").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1, 2, 3]}), tmp_path / "data" / "raw" / "a.parquet")
    return tmp_path / "data"


@pytest.mark.parametrize(
    ("home", "store", "problem"),
    [
        ("{d}/raw/", "{d}/raw/", "the store path {d}/raw/ is the home's path"),
        ("{d}", "{d}/lake", "the store path {d}/lake is inside the home's folder {d}"),
        (
            "{d}/raw/a.parquet",
            "{d}",
            "the home {d}/raw/a.parquet is inside the store's folder {d}",
        ),
        ("{d}/raw/*.parquet", "{d}/raw/out/", "the store path {d}/raw/out/ is inside"),
    ],
)
def test_a_store_overlapping_its_home_is_refused(
    tmp_path: pathlib.Path, data: pathlib.Path, home: str, store: str, problem: str
) -> None:
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    check(
        tmp_path,
        f"""
        flows:
          loop:
            home: {{type: parquet, path: "{home.format(d=data)}"}}
            store: {{type: parquet, path: "{store.format(d=data)}", mode: replace}}
        """,
        "{file}:4:12:",
        "flow 'loop' → store → field 'path': " + problem.format(d=data),
        HINT,
    )
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == [*before, pathlib.Path("flows.yaml")]  # nothing written, nothing deleted


def test_overlap_may_be_allowed(tmp_path: pathlib.Path, data: pathlib.Path) -> None:
    (tmp_path / "flows.yaml").write_text(f"""
flows:
  loop:
    allow_overlap: true
    home: {{type: parquet, path: "{data}/raw/a.parquet"}}
    store: {{type: parquet, path: "{data}/raw/out"}}
""")
    result = run_cli("run", str(tmp_path / "flows.yaml"))
    assert result.code == 0, result.text
    assert pq.read_table(data / "raw" / "out").num_rows == 3


@pytest.mark.parametrize("mode", ["append", "replace"])
def test_keys_without_merge_are_refused(
    tmp_path: pathlib.Path, data: pathlib.Path, mode: str
) -> None:
    check(
        tmp_path,
        f"""
        flows:
          users:
            home: {data}/raw/a.parquet
            store: {{type: parquet, path: {tmp_path}/out/, mode: {mode}, keys: [id]}}
        """,
        "{file}:4:",
        f"flow 'users' → store: keys: is used only by mode: merge, and mode is {mode}; "
        "use mode: merge to upsert by these keys, or remove keys:",
    )
