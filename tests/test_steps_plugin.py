"""A third-party distribution adds a transform and a check through the `hygge` entry point:
`hygge plugins` lists them, flows use them, and the kit's contracts pass against them."""

from __future__ import annotations

import json
import pathlib
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import run_cli
from tests.plugindist import run_kit
from tests.test_plugins import env_with, make_dist

PLUGIN = """
    import pyarrow as pa
    import pyarrow.compute as pc
    from pydantic import Field

    from hygge_core import Check, CheckConfig, Transform, TransformConfig, hookimpl
    from hygge_core import record_failures


    class ReverseConfig(TransformConfig):
        columns: list[str] = Field(min_length=1)


    class Reverse(Transform):
        '''reverse: [col]: the text backwards.'''

        config_model = ReverseConfig

        @classmethod
        def normalize(cls, value):
            return {"columns": value} if isinstance(value, list) else value

        def apply(self, batch, run):
            for name in self.config.columns:
                i = batch.schema.get_field_index(name)
                batch = batch.set_column(i, name, pc.utf8_reverse(batch.column(i)))
            return batch


    class EvenConfig(CheckConfig):
        column: str


    class Even(Check):
        '''even: {column: n}: every value is even.'''

        config_model = EvenConfig

        def columns(self):
            return [self.config.column]

        def observe(self, partial, batch):
            column = batch.column(self.config.column)
            odd = pc.not_equal(pc.bit_wise_and(column, 1), 0)
            record_failures(partial, batch, pc.fill_null(odd, False), [self.config.column])


    @hookimpl
    def hygge_register_transforms(register):
        register("reverse", Reverse)


    @hookimpl
    def hygge_register_checks(register):
        register("even", Even)
"""

KIT = """
    import pytest

    from hygge_core.testing import CheckContract, TransformContract


    class TestReverse(TransformContract):
        name = "reverse"

        @pytest.fixture
        def options(self):
            return ["string"]


    class TestEven(CheckContract):
        name = "even"

        @pytest.fixture
        def options(self):
            return {"column": "int64"}
"""


def test_a_plugin_transform_and_check(tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    make_dist(site, "hygge-extra", "hygge_extra_mod", PLUGIN)
    env = env_with(site)
    listed = json.loads(run_cli("plugins", "--json", env=env).out)
    extra = next(p for p in listed["plugins"] if p["distribution"] == "hygge-extra")
    assert (extra["transforms"], extra["checks"]) == (["reverse"], ["even"])
    core = next(p for p in listed["plugins"] if p["distribution"] == "hygge-core")
    assert "unique" in core["checks"] and "rename" in core["transforms"]

    pq.write_table(pa.table({"n": [2, 4, 7], "s": ["abc", "hygge", None]}), tmp_path / "a.parquet")
    path = tmp_path / "flows.yaml"
    body = (
        f"flows:\n  f:\n    home: {tmp_path}/a.parquet\n    store: {tmp_path}/out/\n"
        "    transform:\n      - reverse: [s]\n    checks:\n      - even: {column: n}\n"
    )
    path.write_text(body)
    failed = run_cli("run", str(path), env=env)
    assert failed.code == 1
    assert f"check even(n) ({path}:8): 1 of 3 row(s) fail, e.g. n=7" in failed.err
    path.write_text(body.replace("{column: n}", "{column: n, severity: warn}"))
    done = run_cli("run", str(path), env=env)
    assert done.code == 0, done.text
    assert pq.read_table(tmp_path / "out").column("s").to_pylist() == ["cba", "eggyh", None]


def test_the_kit_passes_against_the_plugin(tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    make_dist(site, "hygge-extra", "hygge_extra_mod", PLUGIN)
    tests = tmp_path / "kit" / "test_extra.py"
    tests.parent.mkdir()
    tests.write_text(textwrap.dedent(KIT))
    outcomes, output = run_kit(tests, [site])
    assert set(outcomes) == {"TestReverse", "TestEven"}, output
    failed = {(c, t) for c, ts in outcomes.items() for t, s in ts.items() if s == "failed"}
    assert not failed, output
    assert outcomes["TestEven"]["test_units_split_does_not_change_the_outcome"] == "passed"
