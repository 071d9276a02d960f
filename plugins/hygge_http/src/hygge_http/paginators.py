"""Paginators: from one page's response to the next page's request.

Each built-in style is one line of flows.yaml (`paginate: link`,
`paginate: {type: page, size: 100}`); a plugin adds its own by subclassing `Paginator` and
naming it in the entry-point group `hygge_http.paginators` (see `hygge_http.extensions`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar
from urllib.parse import urljoin

import httpx
from pydantic import BaseModel, ConfigDict, Field

from hygge_http.selector import select


@dataclass(frozen=True)
class PageRequest:
    """One page's request: the URL and its query parameters (the rest is the home's)."""

    url: str
    params: dict[str, Any] = field(default_factory=dict)
    number: int = 1  # the page's place in its stream, for messages: 1, 2, ...


class Options(BaseModel):
    """A paginator's options: subclass with its fields (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(description="the paginator's name")
    max_pages: int | None = Field(default=None, ge=1, description="stop after this many pages")


class Paginator(ABC):
    """Decides the next request from the last response; one instance per stream.

    `options_model` names the pydantic model of the paginator's options (the keys of
    `paginate:` beside `type`). `first(request)` may add parameters to the first request
    (page=1); `next(...)` returns the next request, or None when the stream ends.
    """

    options_model: ClassVar[type[Options]] = Options

    def __init__(self, options: Options) -> None:
        self.options = options

    def first(self, request: PageRequest) -> PageRequest:
        """The first page's request (by default as configured)."""
        return request

    @abstractmethod
    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, records: list[Any]
    ) -> PageRequest | None:
        """The request after `request`, whose answer was `response` (parsed: `body`,
        selected: `records`); None to stop."""


def _then(
    request: PageRequest, url: str | None = None, params: dict[str, Any] | None = None
) -> PageRequest:
    """The request for the page after `request`: at `url` (whose query says it all), or
    with `params` changed."""
    merged = {**request.params, **(params or {})} if url is None else {}
    return replace(request, url=url or request.url, params=merged, number=request.number + 1)


class NoPaging(Paginator):
    """`paginate: none` (the default): one request, one page."""

    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, records: list[Any]
    ) -> PageRequest | None:
        return None


class LinkHeader(Paginator):
    """`paginate: link`: follow `Link: <url>; rel="next"` (GitHub, GitLab); stops at none."""

    class LinkOptions(Options):
        rel: str = Field(default="next", description="the link relation to follow")

    options_model = LinkOptions

    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, records: list[Any]
    ) -> PageRequest | None:
        assert isinstance(self.options, LinkHeader.LinkOptions)
        target = response.links.get(self.options.rel, {}).get("url")
        if not target:
            return None
        return _then(request, url=urljoin(str(response.url), target))


class NextUrl(Paginator):
    """`paginate: {type: next_url, path: links.next}`: the body names the next page's
    URL; stops when it is missing, null or empty."""

    class NextUrlOptions(Options):
        path: str = Field(description="where the body holds the next URL, e.g. links.next")

    options_model = NextUrlOptions

    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, records: list[Any]
    ) -> PageRequest | None:
        assert isinstance(self.options, NextUrl.NextUrlOptions)
        target = select(body, self.options.path)
        if not target:
            return None
        return _then(request, url=urljoin(str(response.url), str(target)))


class Cursor(Paginator):
    """`paginate: {type: cursor, path: meta.next_cursor, param: cursor}`: the body holds
    a token the next request sends as a parameter; stops when it is missing or empty."""

    class CursorOptions(Options):
        path: str = Field(description="where the body holds the token, e.g. meta.next_cursor")
        param: str = Field(default="cursor", description="the query parameter that sends it")

    options_model = CursorOptions

    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, records: list[Any]
    ) -> PageRequest | None:
        assert isinstance(self.options, Cursor.CursorOptions)
        token = select(body, self.options.path)
        if token is None or token == "" or token is False:
            return None
        return _then(request, params={self.options.param: token})


class _Counted(Options):
    total: str | None = Field(
        default=None, description="where the body holds the total record count (stop there)"
    )
    size: int | None = Field(default=None, ge=1, description="records per page to ask for")


def _past_total(body: Any, path: str | None, seen: int) -> bool:
    if path is None:
        return False
    total = select(body, path)
    return isinstance(total, int | float) and seen >= total


class PageNumber(Paginator):
    """`paginate: {type: page, size: 100}`: `?page=1&per_page=100`, then 2, 3, ...; stops
    at an empty page, a short page (when `size` is set), or `total` records."""

    class PageOptions(_Counted):
        param: str = Field(default="page", description="the page-number parameter")
        size_param: str = Field(default="per_page", description="the page-size parameter")
        start: int = Field(default=1, description="the first page's number")

    options_model = PageOptions

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.seen = 0

    def first(self, request: PageRequest) -> PageRequest:
        o = self.options
        assert isinstance(o, PageNumber.PageOptions)
        sized = {o.size_param: o.size} if o.size else {}
        return replace(request, params={**request.params, o.param: o.start, **sized})

    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, records: list[Any]
    ) -> PageRequest | None:
        o = self.options
        assert isinstance(o, PageNumber.PageOptions)
        self.seen += len(records)
        short = o.size is not None and len(records) < o.size
        if not records or short or _past_total(body, o.total, self.seen):
            return None
        return _then(request, params={o.param: int(request.params[o.param]) + 1})


class OffsetLimit(Paginator):
    """`paginate: {type: offset, size: 100}`: `?offset=0&limit=100`, then 100, 200, ...;
    stops at an empty page, a short page, or `total` records."""

    class OffsetOptions(_Counted):
        param: str = Field(default="offset", description="the offset parameter")
        size_param: str = Field(default="limit", description="the page-size parameter")
        size: int = Field(default=100, ge=1, description="records per page to ask for")

    options_model = OffsetOptions

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.seen = 0

    def first(self, request: PageRequest) -> PageRequest:
        o = self.options
        assert isinstance(o, OffsetLimit.OffsetOptions)
        return replace(request, params={**request.params, o.param: 0, o.size_param: o.size})

    def next(
        self, request: PageRequest, response: httpx.Response, body: Any, records: list[Any]
    ) -> PageRequest | None:
        o = self.options
        assert isinstance(o, OffsetLimit.OffsetOptions)
        self.seen += len(records)
        if len(records) < o.size or _past_total(body, o.total, self.seen):
            return None
        return _then(request, params={o.param: int(request.params[o.param]) + len(records)})


BUILTIN: dict[str, type[Paginator]] = {
    "none": NoPaging,
    "link": LinkHeader,
    "next_url": NextUrl,
    "cursor": Cursor,
    "page": PageNumber,
    "offset": OffsetLimit,
}
