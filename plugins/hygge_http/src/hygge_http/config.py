"""The flows.yaml options of the http home and of `connections:` entries of type http."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hygge_core import ConnectionConfig, HomeConfig
from hygge_http import extensions
from hygge_http.columns import parse_type
from hygge_http.selector import parse_path


def _check_paginate(value: Any) -> Any:
    extensions.options(extensions.PAGINATORS, value)
    return value


def _check_auth(value: Any) -> Any:
    if value is not None:
        extensions.options(extensions.AUTH, value)
    return value


def _check_records(value: str | None) -> str | None:
    if value is not None:
        parse_path(value)
    return value


class HttpConnection(ConnectionConfig):
    """`connections: {api: {type: http, base_url: ..., auth: ...}}`: what flows share."""

    type: Literal["http"] = Field(default="http", description="an HTTP API")
    base_url: str | None = Field(default=None, description="prefix of relative home URLs")
    headers: dict[str, str] = Field(default_factory=dict, description="headers of every request")
    auth: Any = Field(default=None, description="auth scheme (see the home's auth:)")

    @field_validator("auth")
    @classmethod
    def _auth(cls, value: Any) -> Any:
        return _check_auth(value)


class Request(BaseModel):
    """What one stream of pages requests: the options the home and its `parent:` share."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="the first page's URL; {field} takes a parent record's field")
    method: Literal["GET", "POST"] = Field(default="GET", description="GET or POST")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="query parameters; a value with {cursor} is sent only on incremental runs",
    )
    body: Any = Field(
        default=None, description="a JSON body to send (POST); strings take {cursor} and {field}"
    )
    records: str | None = Field(
        default=None,
        description="where the body holds the record list (data.items); default: the body "
        "when it is a list, else its only list",
    )
    paginate: Any = Field(
        default="none",
        description="none, link, or {type: next_url|cursor|page|offset, ...}: see docs/http.md",
    )

    @field_validator("paginate")
    @classmethod
    def _paginate(cls, value: Any) -> Any:
        return _check_paginate(value)

    @field_validator("records")
    @classmethod
    def _records(cls, value: str | None) -> str | None:
        return _check_records(value)


class ParentConfig(Request):
    """`parent:`: the request whose records parameterise the home's (fan-out)."""


class HttpHomeConfig(Request, HomeConfig):
    """`home: {type: http, ...}`."""

    model_config = ConfigDict(extra="forbid")

    connection: str | None = Field(
        default=None, description="a connection under connections: (base_url, headers, auth)"
    )
    headers: dict[str, str] = Field(default_factory=dict, description="headers of every request")
    auth: Any = Field(
        default=None,
        description="bearer, basic, api_key, oauth2 (or a plugin's): {type: bearer, token: ...}",
    )
    columns: dict[str, str] | None = Field(
        default=None,
        description="the columns to keep and their types; default: every field of the "
        "first page's records, types inferred",
    )
    parent: ParentConfig | None = Field(
        default=None, description="fan out: one work unit per record of this request"
    )
    parent_fields: list[str] = Field(
        default_factory=list, description="fields of the parent record to add as parent_<name>"
    )
    timeout: float = Field(default=30.0, gt=0, description="seconds to wait for a response")
    retries: int = Field(default=5, ge=0, description="retries of a failed request")
    backoff: float = Field(
        default=0.5, ge=0, description="seconds before the first retry, doubled after each"
    )
    rate_limit: float | None = Field(
        default=None, gt=0, description="at most this many requests per second (per process)"
    )

    @field_validator("auth")
    @classmethod
    def _auth(cls, value: Any) -> Any:
        return _check_auth(value)

    @field_validator("columns")
    @classmethod
    def _types(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, text in (value or {}).items():
            try:
                parse_type(str(text))
            except ValueError as exc:
                raise ValueError(f"column '{name}': {exc}") from None
        return value
