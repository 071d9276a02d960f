"""The flows.yaml options of the RabbitMQ home and store, and of `connections:` entries."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hygge_core import HomeConfig, IncrementalConfig, StoreConfig

OFFSET = "_offset"  # a stream message's offset: the column, and the stream home's cursor
METADATA = ("routing_key", "exchange", "message_id", "timestamp", "headers", "redelivered")


class TlsOptions(BaseModel):
    """`tls:` of a connection: verify the broker with `ca_file`, present `cert_file`/`key_file`."""

    model_config = ConfigDict(extra="forbid")
    ca_file: str | None = Field(default=None, description="CA bundle that signed the broker")
    cert_file: str | None = Field(default=None, description="client certificate (mutual TLS)")
    key_file: str | None = Field(default=None, description="client certificate's private key")
    verify: bool = Field(default=True, description="check the broker's certificate and name")
    server_name: str | None = Field(default=None, description="name to check, if not the host")


class RabbitConnection(BaseModel):
    """A `connections:` entry of `type: rabbitmq`: the broker's URL and TLS settings."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["rabbitmq"] = "rabbitmq"
    url: str = Field(description="amqp://user:${PW}@host:5672/vhost (amqps:// for TLS)")
    tls: TlsOptions | None = Field(default=None, description="TLS settings (amqps://)")
    heartbeat: int = Field(default=60, ge=0, description="seconds between heartbeats")


class _Broker(BaseModel):
    """Where the broker is: `url:` inline, or `connection:` naming a `connections:` entry."""

    url: str | None = Field(default=None, description="amqp://user:${PW}@host:5672/vhost")
    connection: str | None = Field(default=None, description="a named rabbitmq connection")
    tls: TlsOptions | None = Field(default=None, description="TLS settings (amqps://)")

    @model_validator(mode="after")
    def _one_broker(self) -> _Broker:
        if (self.url is None) == (self.connection is None):
            raise ValueError("set url: (amqp://user:${PW}@host/vhost) or connection:, not both")
        return self


class RabbitHomeConfig(HomeConfig, _Broker):
    """`home: {type: rabbitmq, stream: NAME | queue: NAME, ...}`."""

    stream: str | None = Field(default=None, description="a stream to read by offset")
    queue: str | None = Field(default=None, description="a classic or quorum queue to consume")
    format: Literal["json", "text", "bytes"] = Field(
        default="json", description="payloads: JSON objects, UTF-8 text or raw bytes"
    )
    columns: dict[str, str] | None = Field(
        default=None,
        description="JSON fields and their types ({id: int64, name: string, at: timestamp[us]}); "
        "without it, inferred from the first messages of a stream",
    )
    metadata: list[Literal[METADATA]] = Field(  # type: ignore[valid-type]
        default_factory=list,
        description="message properties as columns _routing_key, _message_id, ... "
        f"(any of {', '.join(METADATA)})",
    )
    follow: bool = Field(
        default=False,
        description="keep reading past the end seen at plan time, until max_seconds or "
        "max_messages (micro-batches)",
    )
    max_seconds: float | None = Field(default=None, gt=0, description="stop reading after this")
    max_messages: int | None = Field(default=None, ge=1, description="stop after this many")
    prefetch: int = Field(
        default=10_000,
        ge=1,
        le=65_535,
        description="messages the broker sends ahead; a queue run holds at most this many "
        "unacknowledged messages, so it takes at most this many per run",
    )
    idle_seconds: float = Field(
        default=1.0, gt=0, description="a bounded run ends after this long without a message"
    )
    batch_rows: int = Field(default=20_000, ge=1, description="messages per record batch")
    dedupe_window: int = Field(
        default=200_000,
        ge=0,
        description="queue: ids of this many recently committed messages are kept in the "
        "flow's state, so a redelivered one is dropped",
    )
    infer_messages: int = Field(default=1_000, ge=1, description="messages sampled to infer")

    @model_validator(mode="after")
    def _stream_or_queue(self) -> RabbitHomeConfig:
        if (self.stream is None) == (self.queue is None):
            raise ValueError("set stream: NAME or queue: NAME (exactly one)")
        if self.stream is not None:
            if self.incremental is None:
                # The offset is the state: committed with the data like any cursor.
                self.incremental = IncrementalConfig(cursor=OFFSET)
            elif self.incremental.cursor != OFFSET or self.incremental.lookback is not None:
                raise ValueError(
                    f"a stream is read by its offset: remove incremental: (it is always "
                    f"{{cursor: {OFFSET}}}); to start later, use incremental: "
                    f"{{cursor: {OFFSET}, start: N}}"
                )
        elif self.incremental is not None:
            raise ValueError(
                "a queue has no cursor: messages are acknowledged once committed; remove "
                "incremental:"
            )
        if self.format != "json" and self.columns:
            raise ValueError(f"columns: describes JSON payloads; format is {self.format}")
        if self.follow and self.max_seconds is None and self.max_messages is None:
            raise ValueError("follow: true needs max_seconds: or max_messages: to end a run")
        return self


class RabbitStoreConfig(StoreConfig, _Broker):
    """`store: {type: rabbitmq, exchange: NAME, routing_key: TEMPLATE, ...}`."""

    exchange: str = Field(default="", description="exchange to publish to ('' is the default)")
    routing_key: str = Field(
        description="routing key, a template over the row: 'orders.{region}' (with the "
        "default exchange, the queue or stream name)"
    )
    declare: Literal["stream", "queue", "quorum"] | None = Field(
        default=None,
        description="declare routing_key as a durable stream/queue first (default exchange)",
    )
    publish_batch: int = Field(
        default=2_000, ge=1, description="messages per broker transaction while publishing"
    )

    @model_validator(mode="after")
    def _append_only(self) -> RabbitStoreConfig:
        if self.mode != "append":
            raise ValueError(
                f"a broker only appends messages; mode: {self.mode} is not possible, use "
                "mode: append"
            )
        return self
