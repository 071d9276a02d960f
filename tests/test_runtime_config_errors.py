"""A setting found wrong only at run time (a ConfigError a plugin raises naming its flow,
side and field) is reported at that field's line in flows.yaml, like a validation error."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
import yaml

import hygge_core.api
from hygge_core import ConfigError, Home, HomeConfig, Problem, Window, WorkUnit
from hygge_core.plugins import load_registry


class PickyConfig(HomeConfig):
    """`mode` is checked against the source only when the run opens it."""

    mode: str = "fast"


class PickyHome(Home):
    """Refuses `mode: fast` when it plans, the way a home finds that a table lacks a property."""

    config_model = PickyConfig

    def schema(self) -> pa.Schema:
        return pa.schema([pa.field("id", pa.int64())])

    def plan(self, window: Window | None) -> list[WorkUnit]:
        raise ConfigError(
            [
                Problem(
                    "the source cannot go fast",
                    flow=self.context.flow,
                    side="home",
                    field="mode",
                    hint="mode: slow",
                )
            ]
        )

    def read(self, unit: WorkUnit) -> Iterator[pa.RecordBatch]:
        yield from ()


@pytest.fixture
def picky(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = load_registry()
    registry.homes["picky"] = PickyHome
    monkeypatch.setattr(hygge_core.api, "load_registry", lambda: registry)


def run(tmp: pathlib.Path, flows: dict[str, Any]) -> tuple[str, list[Any]]:
    path = tmp / "flows.yaml"
    path.write_text(yaml.safe_dump({"flows": flows}, sort_keys=False))
    return str(path), hygge_core.api.run_file(str(path))


@pytest.mark.usefixtures("picky")
def test_the_problem_is_placed_at_its_field(tmp_path: pathlib.Path) -> None:
    store = {"type": "parquet", "path": str(tmp_path / "out")}
    flows = {
        "ok": {"home": {"type": "picky", "mode": "slow"}, "store": store},
        "f": {"home": {"type": "picky", "mode": "fast"}, "store": store},
    }
    path, results = run(tmp_path, flows)
    lines = pathlib.Path(path).read_text().splitlines()
    line = max(i for i, text in enumerate(lines, 1) if "mode: fast" in text)
    column = lines[line - 1].index("mode") + 1
    assert results[1].error == (
        f"{path}:{line}:{column}: flow 'f' → home → field 'mode': the source cannot go fast\n"
        "    hint: mode: slow"
    )


@pytest.mark.usefixtures("picky")
def test_a_field_left_to_its_default_is_placed_at_the_side(tmp_path: pathlib.Path) -> None:
    flows = {"f": {"home": {"type": "picky"}, "store": {"type": "parquet", "path": "out"}}}
    path, [result] = run(tmp_path, flows)
    lines = pathlib.Path(path).read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "type: picky" in text)
    assert result.error is not None
    assert result.error.startswith(f"{path}:{line}:")
    assert result.error.endswith(
        ": flow 'f' → home → field 'mode': the source cannot go fast\n    hint: mode: slow"
    )
