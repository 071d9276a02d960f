"""Auth schemes: bearer, basic, API key (header or query), OAuth2 client credentials.

Each is declared in one line (`auth: {type: bearer, token: "${API_TOKEN}"}`); a plugin adds
its own by subclassing `Auth` and naming it in the entry-point group `hygge_http.auth`.
Secret values sit in fields whose names hygge masks everywhere (token, password, key,
client_secret), and `secrets()` lists them so the home masks them in its own messages too.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Generator
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from hygge_core import PermanentError, TransientError, first_line


class Options(BaseModel):
    """An auth scheme's options: subclass with its fields (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(description="the auth scheme's name")


class Auth(ABC):
    """Signs the requests of one stream. `options_model` names the options' model;
    `httpx_auth()` returns the `httpx.Auth` that signs; `secrets()` what never to print."""

    options_model: ClassVar[type[Options]] = Options

    def __init__(self, options: Options) -> None:
        self.options = options

    @abstractmethod
    def httpx_auth(self) -> httpx.Auth:
        """The httpx auth flow for one client (one per work unit)."""

    def secrets(self) -> list[str]:
        """The values to mask in messages."""
        return []


class _Header(httpx.Auth):
    def __init__(self, name: str, value: str) -> None:
        self.name, self.value = name, value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self.name] = self.value
        yield request


class _Query(httpx.Auth):
    def __init__(self, name: str, value: str) -> None:
        self.name, self.value = name, value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.url = request.url.copy_merge_params({self.name: self.value})
        yield request


class Bearer(Auth):
    """`auth: {type: bearer, token: "${TOKEN}"}`: `Authorization: Bearer <token>`."""

    class BearerOptions(Options):
        token: str = Field(description="the token (never printed)")

    options_model = BearerOptions

    def httpx_auth(self) -> httpx.Auth:
        assert isinstance(self.options, Bearer.BearerOptions)
        return _Header("Authorization", f"Bearer {self.options.token}")

    def secrets(self) -> list[str]:
        assert isinstance(self.options, Bearer.BearerOptions)
        return [self.options.token]


class Basic(Auth):
    """`auth: {type: basic, username: u, password: "${PASSWORD}"}`."""

    class BasicOptions(Options):
        username: str = Field(description="the user")
        password: str = Field(description="the password (never printed)")

    options_model = BasicOptions

    def httpx_auth(self) -> httpx.Auth:
        assert isinstance(self.options, Basic.BasicOptions)
        return httpx.BasicAuth(self.options.username, self.options.password)

    def secrets(self) -> list[str]:
        assert isinstance(self.options, Basic.BasicOptions)
        return [self.options.password]


class ApiKey(Auth):
    """`auth: {type: api_key, name: X-API-Key, key: "${KEY}", in: header}` (or `in: query`)."""

    class ApiKeyOptions(Options):
        name: str = Field(description="the header or query parameter that carries the key")
        key: str = Field(description="the key (never printed)")
        in_: Literal["header", "query"] = Field(
            default="header", alias="in", description="header (default) or query"
        )

    options_model = ApiKeyOptions

    def httpx_auth(self) -> httpx.Auth:
        o = self.options
        assert isinstance(o, ApiKey.ApiKeyOptions)
        return _Header(o.name, o.key) if o.in_ == "header" else _Query(o.name, o.key)

    def secrets(self) -> list[str]:
        assert isinstance(self.options, ApiKey.ApiKeyOptions)
        return [self.options.key]


class _ClientCredentials(httpx.Auth):
    """Fetches a token from the token URL, sends it as a bearer token, and fetches a new
    one before it expires or when the API answers 401 (a token revoked early)."""

    requires_response_body = True
    margin = 30.0  # seconds before `expires_in` runs out at which a token counts as expired

    def __init__(self, options: OAuth2.OAuth2Options) -> None:
        self.options = options
        self.token: str | None = None
        self.expires = 0.0

    def _token_request(self) -> httpx.Request:
        o = self.options
        form = {"grant_type": "client_credentials", "client_id": o.client_id}
        form["client_secret"] = o.client_secret
        if o.scope:
            form["scope"] = o.scope
        return httpx.Request("POST", o.token_url, data=form)

    def _take(self, response: httpx.Response) -> None:
        where = f"OAuth2 token URL {self.options.token_url}"
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(f"{where} answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise PermanentError(
                f"{where} refused the client credentials (HTTP {response.status_code}); "
                "check client_id and client_secret"
            )
        try:
            body: Any = response.json()
            self.token = str(body["access_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentError(
                f"{where} answered without an access_token: {first_line(str(exc), 100)}"
            ) from None
        self.expires = time.monotonic() + float(body.get("expires_in") or 3600) - self.margin

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.token is None or time.monotonic() >= self.expires:
            self._take((yield self._token_request()))
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:  # revoked or expired early: one fresh token
            self._take((yield self._token_request()))
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request


class OAuth2(Auth):
    """`auth: {type: oauth2, token_url: ..., client_id: ..., client_secret: "${SECRET}"}`:
    the client-credentials grant; the token is fetched, and fetched again before it
    expires."""

    class OAuth2Options(Options):
        token_url: str = Field(description="where to POST for a token")
        client_id: str = Field(description="the client's id")
        client_secret: str = Field(description="the client's secret (never printed)")
        scope: str | None = Field(default=None, description="scopes to ask for, space-separated")

    options_model = OAuth2Options

    def httpx_auth(self) -> httpx.Auth:
        assert isinstance(self.options, OAuth2.OAuth2Options)
        return _ClientCredentials(self.options)

    def secrets(self) -> list[str]:
        assert isinstance(self.options, OAuth2.OAuth2Options)
        return [self.options.client_secret]


BUILTIN: dict[str, type[Auth]] = {
    "bearer": Bearer,
    "basic": Basic,
    "api_key": ApiKey,
    "oauth2": OAuth2,
}
