"""A home's own position (`Home.begin/position/committed`): committed with the data as
`FlowState.position`, handed back at the next run, and acknowledged only after the commit."""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import hygge_core.api
from hygge_core import FlowState, Home, HomeConfig, Window, WorkUnit
from hygge_core.plugins import load_registry
from hygge_core.testing import EventRecorder

LOG: list[tuple[str, Any]] = []


class CounterConfig(HomeConfig):
    """A source that hands out numbers; `fail_ack` makes the acknowledgement fail."""

    rows: int = 3
    fail_ack: bool = False
    sink: str = ""


class CounterHome(Home):
    """Yields the next `rows` numbers after its committed position; logs every call."""

    config_model = CounterConfig

    def __init__(self, config: CounterConfig, context: Any) -> None:
        super().__init__(config, context)
        self.config: CounterConfig = config
        self.start = 0

    def schema(self) -> pa.Schema:
        return pa.schema([pa.field("id", pa.int64())])

    def begin(self, state: FlowState | None) -> None:
        position = state.position if state is not None else None
        LOG.append(("begin", position))
        self.start = (position or {}).get("next", 0)

    def plan(self, window: Window | None) -> list[WorkUnit]:
        return [WorkUnit(id=f"from-{self.start}")]

    def read(self, unit: WorkUnit) -> Iterator[pa.RecordBatch]:
        ids = pa.array(range(self.start, self.start + self.config.rows), pa.int64())
        yield pa.RecordBatch.from_arrays([ids], schema=self.schema())

    def position(self) -> dict[str, Any] | None:
        LOG.append(("position", None))
        return {"next": self.start + self.config.rows}

    def committed(self, state: FlowState) -> None:
        # What the store shows at this moment: acknowledging must come after the commit.
        LOG.append(("committed", sorted(landed(pathlib.Path(self.config.sink)))))
        if self.config.fail_ack:
            raise ConnectionError("broker went away")


def landed(sink: pathlib.Path) -> list[int]:
    files = list(sink.glob("*.parquet"))
    return [i for f in files for i in pq.read_table(f).column("id").to_pylist()]


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = load_registry()
    registry.homes["counter"] = CounterHome
    monkeypatch.setattr(hygge_core.api, "load_registry", lambda: registry)
    LOG.clear()


def flows(tmp: pathlib.Path, **home: Any) -> str:
    sink = tmp / "sink"
    spec = {
        "home": {"type": "counter", "sink": str(sink), **home},
        "store": {"type": "parquet", "path": str(sink), "mode": "append"},
        "retry": {"attempts": 1},
    }
    path = tmp / "flows.yaml"
    path.write_text(yaml.safe_dump({"flows": {"c": spec}}))
    return str(path)


def test_position_is_committed_and_handed_back(tmp_path: pathlib.Path, counter: None) -> None:
    path = flows(tmp_path)
    assert hygge_core.api.run_file(path)[0].status == "ok"
    assert hygge_core.api.run_file(path)[0].status == "ok"
    assert LOG == [
        ("begin", None),
        ("position", None),
        ("committed", [0, 1, 2]),  # acknowledged only once the rows were committed
        ("begin", {"next": 3}),
        ("position", None),
        ("committed", [0, 1, 2, 3, 4, 5]),
    ]
    assert sorted(landed(tmp_path / "sink")) == [0, 1, 2, 3, 4, 5]


def test_a_failed_acknowledgement_is_a_note_not_a_failure(
    tmp_path: pathlib.Path, counter: None
) -> None:
    recorder = EventRecorder()
    result = hygge_core.api.run_file(flows(tmp_path, fail_ack=True), observers=[recorder])[0]
    assert result.status == "ok", result.error
    notes = [e.message for e in recorder.events("hygge_flow_note")]
    assert any(
        "committed, but the home could not release what it read "
        "(ConnectionError: broker went away)" in n
        for n in notes
    ), notes
    assert sorted(landed(tmp_path / "sink")) == [0, 1, 2]


def test_no_acknowledgement_when_the_commit_fails(
    tmp_path: pathlib.Path, counter: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYGGE_FAULTS", "commit.start=permanent")
    result = hygge_core.api.run_file(flows(tmp_path))[0]
    assert result.status == "failed"
    assert [name for name, _ in LOG] == ["begin"]  # never asked to acknowledge
    assert landed(tmp_path / "sink") == []


def test_full_refresh_begins_the_home_without_its_position(
    tmp_path: pathlib.Path, counter: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = flows(tmp_path)
    assert hygge_core.api.run_file(path)[0].status == "ok"
    # `hygge run --full-refresh`: the position is a cursor too, so the home starts over.
    monkeypatch.setattr(
        hygge_core.api,
        "RunOptions",
        functools.partial(hygge_core.api.RunOptions, full_refresh=True),
    )
    assert hygge_core.api.run_file(path)[0].status == "ok"
    assert [entry for entry in LOG if entry[0] == "begin"] == [("begin", None), ("begin", None)]
    # The new position is committed: a plain run goes on from it.
    monkeypatch.undo()
    registry = load_registry()
    registry.homes["counter"] = CounterHome
    monkeypatch.setattr(hygge_core.api, "load_registry", lambda: registry)
    assert hygge_core.api.run_file(path)[0].status == "ok"
    assert LOG[-3] == ("begin", {"next": 3})
