"""Contract tests for transforms and checks: mixins a plugin's test classes inherit.

A transform or check a plugin registers is held to what hygge relies on: it is found by
name through the plugin's entry point, its model refuses unknown options, it pickles (Dask
workers get a copy), it gives one schema for every batch of one input schema (the store is
prepared from the empty batch), and, for a check, its partials are small plain data whose
combination does not depend on how the rows were split into units.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, ClassVar

import pyarrow as pa
import pytest
from pydantic import ValidationError

from hygge_core.checks import Check, UnitScope
from hygge_core.plugins import load_registry
from hygge_core.testing.data import sample_table
from hygge_core.transforms import RunInfo, Transform


def _build(table: Any, name: str, value: Any, kind: str) -> Any:
    cls = table[name]
    config = cls.config_model.model_validate(cls.normalize(value))
    return cls(config) if kind == "transform" else cls(config, label=name)


class TransformContract:
    """Subclass, set `name` (the registered transform) and provide the `options` fixture
    (what a user writes after `- NAME:`). `sample` defaults to the kit's `sample_table`;
    set `row_wise = False` for a transform whose output row depends on other rows."""

    name: ClassVar[str] = ""
    row_wise: ClassVar[bool] = True

    @pytest.fixture
    def options(self) -> Any:
        raise NotImplementedError("provide the transform's options as a fixture")

    @pytest.fixture
    def sample(self) -> pa.Table:
        return sample_table(200)

    def make(self, options: Any) -> Transform:
        return _build(load_registry().transforms, self.name, options, "transform")

    def test_type_is_registered(self) -> None:
        assert issubclass(load_registry().transforms[self.name], Transform)

    def test_config_rejects_unknown_field(self, options: Any) -> None:
        cls = load_registry().transforms[self.name]
        normal = cls.normalize(options)
        if not isinstance(normal, dict):
            pytest.skip("the options are not a mapping")
        with pytest.raises(ValidationError):
            cls.config_model.model_validate({**normal, "no_such_option_": 1})

    def test_one_schema_for_every_batch(self, options: Any, sample: pa.Table) -> None:
        t = self.make(options)
        run = RunInfo("kit")
        empty = t.apply(pa.RecordBatch.from_pylist([], schema=sample.schema), run)
        full = t.apply(sample.combine_chunks().to_batches()[0], run)
        assert empty.schema == full.schema

    def test_pickles_and_gives_the_same_rows(self, options: Any, sample: pa.Table) -> None:
        t = self.make(options)
        batch = sample.combine_chunks().to_batches()[0]
        run = RunInfo("kit")
        assert pickle.loads(pickle.dumps(t)).apply(batch, run).equals(t.apply(batch, run))

    def test_split_batches_give_the_same_rows(self, options: Any, sample: pa.Table) -> None:
        if not self.row_wise:
            pytest.skip("row_wise = False")
        t = self.make(options)
        batch = sample.combine_chunks().to_batches()[0]
        run = RunInfo("kit")
        half = batch.num_rows // 2
        parts = [t.apply(batch.slice(0, half), run), t.apply(batch.slice(half), run)]
        whole = pa.Table.from_batches([t.apply(batch, run)])
        assert pa.Table.from_batches(parts).equals(whole)


class CheckContract:
    """Subclass, set `name` (the registered check) and provide the `options` fixture;
    `sample` defaults to the kit's `sample_table`."""

    name: ClassVar[str] = ""

    @pytest.fixture
    def options(self) -> Any:
        raise NotImplementedError("provide the check's options as a fixture")

    @pytest.fixture
    def sample(self) -> pa.Table:
        return sample_table(200)

    def make(self, options: Any) -> Check:
        return _build(load_registry().checks, self.name, options, "check")

    def run_units(self, check: Check, parts: list[pa.Table]) -> Any:
        partials = []
        for i, part in enumerate(parts):
            p = check.start(UnitScope("kit", "kit-run", f"u{i}", i))
            for batch in part.to_batches():
                p["rows"] += batch.num_rows
                check.observe(p, batch)
            check.finish(p)
            partials.append(p)
        try:
            return check.combine(partials), partials
        finally:
            check.cleanup(partials)

    def test_type_is_registered(self) -> None:
        assert issubclass(load_registry().checks[self.name], Check)

    def test_config_rejects_unknown_field(self, options: Any) -> None:
        cls = load_registry().checks[self.name]
        normal = cls.normalize(options)
        if not isinstance(normal, dict):
            pytest.skip("the options are not a mapping")
        with pytest.raises(ValidationError):
            cls.config_model.model_validate({**normal, "no_such_option_": 1})

    def test_severity_is_an_option(self, options: Any) -> None:
        cls = load_registry().checks[self.name]
        normal = cls.normalize(options)
        if isinstance(normal, dict):
            config = cls.config_model.model_validate({**normal, "severity": "warn"})
            assert config.severity == "warn"

    def test_partials_are_small_plain_data(self, options: Any, sample: pa.Table) -> None:
        check = self.make(options)
        _, partials = self.run_units(check, [sample])
        text = json.dumps(partials)
        assert len(text) < 64 << 10, "a partial travels back with every unit: keep it small"
        pickle.loads(pickle.dumps(check))

    def test_units_split_does_not_change_the_outcome(self, options: Any, sample: pa.Table) -> None:
        check = self.make(options)
        whole, _ = self.run_units(check, [sample])
        third = sample.num_rows // 3
        parts = [sample.slice(0, third), sample.slice(third, third), sample.slice(2 * third)]
        split, _ = self.run_units(self.make(options), parts)
        assert (split.rows, split.failed) == (whole.rows, whole.failed)
