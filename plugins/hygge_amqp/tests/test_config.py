"""Settings without a broker: connections, TLS, and the errors of a wrong config."""

from __future__ import annotations

import pathlib
import ssl

import pytest
import yaml
from hygge_amqp.config import RabbitConnection, RabbitHomeConfig, TlsOptions
from hygge_amqp.connect import parameters

from hygge_core.testing import run_cli


def test_amqps_url_gets_tls_with_our_options() -> None:
    conn = RabbitConnection(
        url="amqps://u:p@mq.example:5671/prod", tls=TlsOptions(verify=False), heartbeat=15
    )
    params = parameters(conn)
    assert params.host == "mq.example" and params.port == 5671
    assert params.virtual_host == "prod"
    assert params.heartbeat == 15
    assert params.ssl_options is not None
    assert params.ssl_options.context.verify_mode == ssl.CERT_NONE
    assert params.ssl_options.server_hostname == "mq.example"


def test_stream_or_queue_exactly_one() -> None:
    with pytest.raises(ValueError, match="set stream: NAME or queue: NAME"):
        RabbitHomeConfig(type="rabbitmq", url="amqp://h/", stream="a", queue="b")


def test_a_stream_cursor_is_always_the_offset() -> None:
    config = RabbitHomeConfig(type="rabbitmq", url="amqp://h/", stream="a")
    assert config.incremental is not None and config.incremental.cursor == "_offset"
    with pytest.raises(ValueError, match="a stream is read by its offset"):
        RabbitHomeConfig(type="rabbitmq", url="amqp://h/", stream="a", incremental={"cursor": "id"})


def test_store_refuses_replace_naming_the_field(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "flows.yaml"
    store = {"type": "rabbitmq", "url": "amqp://h/", "routing_key": "q", "mode": "replace"}
    path.write_text(yaml.safe_dump({"flows": {"f": {"home": "in.parquet", "store": store}}}))
    result = run_cli("validate", str(path))
    assert result.code == 2, result.text
    assert "a broker only appends messages; mode: replace is not possible" in result.text


def test_named_connection_password_from_env_is_masked(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "flows.yaml"
    doc = {
        "connections": {"mq": {"type": "rabbitmq", "url": "amqp://u:${MQ_PW}@127.0.0.1:1/%2F"}},
        "flows": {
            "f": {
                "home": {"type": "rabbitmq", "connection": "mq", "stream": "s"},
                "store": {"type": "parquet", "path": str(tmp_path / "out")},
                "retry": {"attempts": 1},
            }
        },
    }
    path.write_text(yaml.safe_dump(doc))
    result = run_cli("run", str(path), env={"MQ_PW": "hunter2-secret"})
    assert result.code == 1, result.text
    assert "rabbitmq amqp://u:***@127.0.0.1:1/%2F" in result.text
    assert "hunter2-secret" not in result.text
