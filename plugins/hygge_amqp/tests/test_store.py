"""The store: rows published as JSON with publisher transactions; state beside them."""

from __future__ import annotations

import datetime as dt
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from hygge_core.testing import Kill, run_cli, run_hygge, tables_equal

from .broker import Broker, landed_ids, unique

ROWS = 5000


def source() -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "region": [("eu", "us", "ap")[i % 3] for i in range(ROWS)],
            "amount": [i / 4 for i in range(ROWS)],
            "ok": [i % 2 == 0 for i in range(ROWS)],
            "at": pa.array(
                [dt.datetime(2026, 1, 1) + dt.timedelta(seconds=i) for i in range(ROWS)],
                pa.timestamp("us"),
            ),
            "note": [None if i % 7 == 0 else f"n{i}" for i in range(ROWS)],
            "day": pa.array(
                [dt.date(2026, 1, 1) + dt.timedelta(days=i % 400) for i in range(ROWS)],
                pa.date32(),
            ),
        }
    )


def write(tmp: pathlib.Path, flows: dict) -> pathlib.Path:
    path = tmp / "flows.yaml"
    path.write_text(yaml.safe_dump({"flows": flows}))
    return path


def test_parquet_to_stream_to_parquet_round_trip_is_exact(
    tmp_path: pathlib.Path, broker: Broker
) -> None:
    stream = unique("rt")
    broker.declared.append(stream)
    pq.write_table(source(), tmp_path / "src.parquet", row_group_size=ROWS // 2)
    columns = {
        "id": "int64",
        "region": "string",
        "amount": "float64",
        "ok": "bool",
        "at": "timestamp[us]",
        "note": "string",
        "day": "date32",
    }
    publish = {
        "home": {
            "type": "parquet",
            "path": str(tmp_path / "src.parquet"),
            "incremental": {"cursor": "id"},
        },
        "store": {
            "type": "rabbitmq",
            "url": broker.url,
            "routing_key": stream,
            "declare": "stream",
        },
    }
    read = {
        "home": {"type": "rabbitmq", "url": broker.url, "stream": stream, "columns": columns},
        "store": {"type": "parquet", "path": str(tmp_path / "back")},
    }
    first = run_cli("run", str(write(tmp_path, {"publish": publish})))
    assert first.code == 0, first.text
    again = run_cli("run", str(write(tmp_path, {"publish": publish})))  # nothing new
    assert again.code == 0, again.text
    back = run_cli("run", str(write(tmp_path, {"read": read})))
    assert back.code == 0, back.text
    files = sorted(p for p in (tmp_path / "back").glob("*.parquet"))
    got = pa.concat_tables([pq.read_table(f) for f in files]).sort_by("_offset")
    assert got.column("_offset").to_pylist() == list(range(ROWS))
    assert tables_equal(got.drop_columns(["_offset"]), source())


def test_routing_key_template_and_message_ids(tmp_path: pathlib.Path, broker: Broker) -> None:
    queues = {r: broker.declare(unique(f"rk-{r}")) for r in ("eu", "us", "ap")}
    exchange = unique("x")
    channel = broker.channel()
    channel.exchange_declare(exchange, "direct", auto_delete=False)
    for region, queue in queues.items():
        channel.queue_bind(queue, exchange, routing_key=f"orders.{region}")
    pq.write_table(source().slice(0, 30), tmp_path / "src.parquet")
    flow = {
        "home": {"type": "parquet", "path": str(tmp_path / "src.parquet")},
        "store": {
            "type": "rabbitmq",
            "url": broker.url,
            "exchange": exchange,
            "routing_key": "orders.{region}",
        },
    }
    result = run_cli("run", str(write(tmp_path, {"p": flow})))
    channel.exchange_delete(exchange)
    channel.connection.close()
    assert result.code == 0, result.text
    assert {r: broker.ready(q) for r, q in queues.items()} == {"eu": 10, "us": 10, "ap": 10}


def test_unknown_template_field_fails_before_publishing(
    tmp_path: pathlib.Path, broker: Broker
) -> None:
    queue = broker.declare(unique("q"))
    pq.write_table(source().slice(0, 10), tmp_path / "src.parquet")
    flow = {
        "home": {"type": "parquet", "path": str(tmp_path / "src.parquet")},
        "store": {"type": "rabbitmq", "url": broker.url, "routing_key": "x.{regoin}"},
    }
    result = run_cli("run", str(write(tmp_path, {"p": flow})))
    assert result.code == 1
    assert "routing_key 'x.{regoin}' uses regoin, which the home does not have" in result.text
    assert broker.ready(queue) == 0


def test_crash_after_publishing_keeps_message_ids_stable(
    tmp_path: pathlib.Path, broker: Broker
) -> None:
    """Killed after the messages went out but before the state: the rerun publishes the
    run again (the documented limit) with the same message ids, which hygge's queue home
    drops, so queue → Parquet still lands each row once."""
    queue = broker.declare(unique("q"))
    pq.write_table(source().slice(0, 400), tmp_path / "src.parquet")
    flow = {
        "home": {
            "type": "parquet",
            "path": str(tmp_path / "src.parquet"),
            "incremental": {"cursor": "id"},
        },
        "store": {"type": "rabbitmq", "url": broker.url, "routing_key": queue},
    }
    path = write(tmp_path, {"p": flow})
    killed = run_hygge("run", str(path), kill=Kill(point="commit.published"))
    assert killed.returncode == -9
    assert broker.ready(queue) == 400
    rerun = run_cli("run", str(path))
    assert rerun.code == 0, rerun.text
    assert broker.ready(queue) == 800  # the broker cannot drop duplicates by itself
    third = run_cli("run", str(path))  # committed: nothing is published again
    assert third.code == 0, third.text
    assert broker.ready(queue) == 800
    consume = {
        "home": {"type": "rabbitmq", "url": broker.url, "queue": queue, "columns": {"id": "int64"}},
        "store": {"type": "parquet", "path": str(tmp_path / "out")},
    }
    result = run_cli("run", str(write(tmp_path, {"c": consume})))
    assert result.code == 0, result.text
    ids = landed_ids(tmp_path / "out")
    assert sorted(ids) == list(range(400))
    assert broker.ready(queue) == 0
