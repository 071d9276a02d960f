"""The stream home: offsets as the committed cursor, payload formats, metadata, follow."""

from __future__ import annotations

import datetime as dt
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from hygge_core.testing import run_cli

from .broker import Broker, unique


def flows(tmp: pathlib.Path, broker: Broker, home: dict, name: str = "f") -> pathlib.Path:
    path = tmp / "flows.yaml"
    full = {"type": "rabbitmq", "url": broker.url, **home}
    store = {"type": "parquet", "path": str(tmp / "out")}
    path.write_text(yaml.safe_dump({"flows": {name: {"home": full, "store": store}}}))
    return path


def landed(tmp: pathlib.Path) -> pa.Table:
    files = [
        f
        for f in sorted((tmp / "out").rglob("*.parquet"))
        if not any(part.startswith("_") for part in f.relative_to(tmp).parts)
    ]
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else pa.table({})


def test_stream_lands_once_and_reruns_read_only_new_offsets(
    tmp_path: pathlib.Path, broker: Broker
) -> None:
    stream = broker.declare(unique("s"), "stream")
    broker.publish(stream, ({"id": i, "name": f"n{i}"} for i in range(3000)))
    path = flows(tmp_path, broker, {"stream": stream, "columns": {"id": "int64", "name": "string"}})
    first = run_cli("run", str(path))
    assert first.code == 0, first.text
    broker.publish(stream, ({"id": i, "name": f"n{i}"} for i in range(3000, 3500)))
    second = run_cli("run", str(path))
    assert second.code == 0, second.text
    third = run_cli("run", str(path))  # nothing new: no unit, nothing written
    assert third.code == 0, third.text
    table = landed(tmp_path).sort_by("_offset")
    assert table.column("id").to_pylist() == list(range(3500))
    assert table.column("_offset").to_pylist() == list(range(3500))
    assert table.schema.names == ["id", "name", "_offset"]


def test_inferred_json_and_metadata_columns(tmp_path: pathlib.Path, broker: Broker) -> None:
    stream = broker.declare(unique("s"), "stream")
    broker.publish(stream, ({"id": i, "score": i / 2, "tag": None} for i in range(10)))
    home = {"stream": stream, "metadata": ["message_id", "timestamp", "headers", "routing_key"]}
    result = run_cli("run", str(flows(tmp_path, broker, home)))
    assert result.code == 0, result.text
    table = landed(tmp_path).sort_by("_offset")
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("score").type == pa.float64()
    assert table.schema.field("tag").type == pa.string()
    assert table.column("_message_id").to_pylist()[:2] == ["m0", "m1"]
    assert table.column("_headers").to_pylist()[0] == '{"n": 1}'
    assert table.column("_routing_key").to_pylist()[0] == stream
    first = table.column("_timestamp").to_pylist()[0]
    assert first == dt.datetime.fromtimestamp(1_700_000_001, dt.UTC)


def test_text_and_bytes_payloads(tmp_path: pathlib.Path, broker: Broker) -> None:
    stream = broker.declare(unique("s"), "stream")
    broker.publish(stream, [b"plain", b"\xff\x00binary"], raw=True)
    result = run_cli("run", str(flows(tmp_path, broker, {"stream": stream, "format": "bytes"})))
    assert result.code == 0, result.text
    assert landed(tmp_path).column("body").to_pylist() == [b"plain", b"\xff\x00binary"]
    text = tmp_path / "t"
    text.mkdir()
    result = run_cli("run", str(flows(text, broker, {"stream": stream, "format": "text"})))
    assert result.code == 1
    assert "offset 1 is not UTF-8 text; read it with format: bytes" in result.text


def test_bad_json_names_the_offset(tmp_path: pathlib.Path, broker: Broker) -> None:
    stream = broker.declare(unique("s"), "stream")
    broker.publish(stream, [b'{"id": 1}', b'{"id": 2', b'{"id": 3}'], raw=True)
    home = {"stream": stream, "columns": {"id": "int64"}}
    result = run_cli("run", str(flows(tmp_path, broker, home)))
    out = result.text
    assert result.code == 1, out
    assert "message at offset 1:" in out
    assert "Traceback" not in out
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.parquet"))


def test_follow_stops_at_max_messages(tmp_path: pathlib.Path, broker: Broker) -> None:
    stream = broker.declare(unique("s"), "stream")
    broker.publish(stream, ({"id": i} for i in range(100)))
    home = {"stream": stream, "follow": True, "max_messages": 40, "max_seconds": 2}
    home["columns"] = {"id": "int64"}
    path = flows(tmp_path, broker, home)
    for _ in range(3):
        assert run_cli("run", str(path)).code == 0
    ids = landed(tmp_path).column("id").to_pylist()
    assert sorted(ids) == list(range(100))


def test_validate_connect_reports_in_one_line_each(tmp_path: pathlib.Path, broker: Broker) -> None:
    """A missing stream and a refused password: one line each, no pika log or traceback."""
    path = tmp_path / "flows.yaml"
    missing = {"type": "rabbitmq", "url": broker.url, "stream": "hygge-test-no-such-stream"}
    wrong = broker.url.replace("guest:guest@", "guest:not-the-pw@")
    store = {"type": "rabbitmq", "url": wrong, "routing_key": "q"}
    doc = {"flows": {"f": {"home": {**missing, "columns": {"a": "int64"}}, "store": store}}}
    path.write_text(yaml.safe_dump(doc))
    result = run_cli("validate", "--connect", str(path))
    assert result.code == 1, result.text
    assert "NOT_FOUND - no queue 'hygge-test-no-such-stream'" in result.text
    assert "the broker refused the user or password" in result.text
    assert "Traceback" not in result.text and "pika" not in result.text
    assert "not-the-pw" not in result.text
