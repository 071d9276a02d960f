"""Opening a broker connection from a home's or store's settings, and naming its faults.

A URL's password never reaches a message: hygge masks URL passwords in everything it
prints, and the errors raised here quote only pika's reason, with the URL masked.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hygge_amqp.config import RabbitConnection, TlsOptions
from hygge_core import FlowContext, PermanentError, TransientError, first_line, mask_url


def settings(context: FlowContext, config: Any) -> RabbitConnection:
    """The connection a home or store config names (inline `url:` or `connection:`)."""
    if config.connection is not None:
        raw = dict(context.connection(config.connection))
        raw.setdefault("type", "rabbitmq")
        try:
            return RabbitConnection.model_validate(raw)
        except ValueError as exc:
            raise PermanentError(f"connection '{config.connection}': {first_line(exc)}") from None
    return RabbitConnection(url=config.url, tls=config.tls)


def parameters(conn: RabbitConnection) -> Any:
    """pika's connection parameters: the URL, then TLS and heartbeat from our settings."""
    import pika

    try:
        params = pika.URLParameters(conn.url)
    except Exception as exc:  # pika raises ValueError and friends on a bad URL
        raise PermanentError(
            f"rabbitmq url {mask_url(conn.url)} is not valid: {first_line(exc)}; write "
            "amqp://user:password@host:5672/vhost (%2F for the vhost '/')"
        ) from None
    params.heartbeat = conn.heartbeat
    params.blocked_connection_timeout = 300
    params.connection_attempts = 1
    if conn.tls is not None or conn.url.startswith("amqps://"):
        params.ssl_options = pika.SSLOptions(
            _tls_context(conn.tls or TlsOptions()),
            (conn.tls and conn.tls.server_name) or params.host,
        )
    return params


def _tls_context(tls: TlsOptions) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=tls.ca_file)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert_file:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


def connect(conn: RabbitConnection, what: str) -> Any:
    """An open `pika.BlockingConnection`; faults become hygge's errors (see `faults`)."""
    import pika

    # pika logs every fault it raises, with a traceback; hygge reports them itself, once.
    logging.getLogger("pika").setLevel(logging.CRITICAL)

    with faults(conn, what):
        return pika.BlockingConnection(parameters(conn))


@contextmanager
def faults(conn: RabbitConnection, what: str) -> Iterator[None]:
    """Turn pika's exceptions into PermanentError (fix the config) or TransientError
    (the broker went away: retried), each naming `what` and the masked URL."""
    import pika.exceptions as pe

    where = f"rabbitmq {mask_url(conn.url)}: {what}"
    try:
        yield
    except (pe.ProbableAuthenticationError, pe.AuthenticationError) as exc:
        raise PermanentError(
            f"{where}: the broker refused the user or password ({first_line(exc)})"
        ) from None
    except pe.ProbableAccessDeniedError as exc:
        raise PermanentError(f"{where}: access to the vhost denied ({first_line(exc)})") from None
    except pe.ChannelClosedByBroker as exc:
        if exc.reply_code in (403, 404, 406):
            raise PermanentError(f"{where}: {exc.reply_text}") from None
        raise TransientError(f"{where}: channel closed ({exc.reply_text})") from None
    except (pe.AMQPError, OSError) as exc:
        raise TransientError(
            f"{where}: {type(exc).__name__}: {first_line(str(exc) or repr(exc))}"
        ) from None


def close_quietly(connection: Any, before: Callable[[], None] | None = None) -> None:
    """Close a connection that may already be dead, ignoring what a dead one raises."""
    if connection is None:
        return
    try:
        if before is not None:
            before()
        if connection.is_open:
            connection.close()
    except Exception:  # closing a broken connection: nothing left to save
        pass
