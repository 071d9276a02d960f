"""The http home: a JSON API's pages, streamed as Arrow batches, one work unit per stream.

A stream is the chain of pages a paginator walks from one first request. Without `parent:`
the home reads one stream; with it, each record of the parent's pages parameterises one
child stream (`/repos` → `/repos/{name}/issues`), each a work unit, read in parallel.
Incremental runs send the committed cursor (`params: {since: "{cursor}"}`) and keep only
records strictly after it, so the API may answer coarsely (by day, inclusive) without
duplicates landing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc

from hygge_core import FlowContext, Home, HyggeError, PermanentError, Window, WorkUnit, mask_url
from hygge_http import extensions
from hygge_http.auth import Auth
from hygge_http.client import Client
from hygge_http.columns import parse_type
from hygge_http.config import HttpConnection, HttpHomeConfig, Request
from hygge_http.paginators import PageRequest, Paginator
from hygge_http.records import Columns, infer
from hygge_http.selector import as_text, fields_in, render, select

CURSOR = "cursor"  # the template field that holds the incremental bound
PARSED_PER_BYTE = 5  # bytes a page holds per byte of JSON: the text and its parsed objects


class Page:
    """One fetched page: where it came from, its size in bytes, its body and its records."""

    def __init__(self, where: str, size: int, body: Any, records: list[Any]) -> None:
        self.where, self.size, self.body, self.records = where, size, body, records


class HttpHome(Home):
    """Reads a REST/JSON API: pagination, auth, retries, rate limit, incremental, fan-out.

    See docs/http.md for every option. Types come from `columns:` or are inferred from the
    first page; a later page that disagrees fails the flow naming the page, the record,
    the field and the value.
    """

    config_model = HttpHomeConfig
    connection_model = HttpConnection
    supports_incremental = True
    splits = True  # with parent:, one unit per child stream
    arrow_types = frozenset(
        {"int32", "int64", "float64", "bool", "string", "timestamp", "timestamp_tz", "date"}
        | {"decimal"}
    )

    def __init__(self, config: HttpHomeConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.config: HttpHomeConfig = config
        self._schema: pa.Schema | None = None
        self._source = "declared in columns:"
        base_url, headers, auth = None, {}, config.auth
        if config.connection:
            try:
                shared = HttpConnection.model_validate(context.connection(config.connection))
            except ValueError as exc:
                raise PermanentError(
                    f"connection '{config.connection}': {str(exc).splitlines()[-1]}"
                ) from None
            base_url, headers, auth = shared.base_url, shared.headers, auth or shared.auth
        self.base_url = base_url
        self.headers = {**headers, **config.headers}
        self.auth_raw = auth
        self.secrets = self._auth().secrets() if auth is not None else []

    # ---- helpers -----------------------------------------------------------------------

    def _auth(self) -> Auth:
        try:
            made: Auth = extensions.build(extensions.AUTH, self.auth_raw)
        except ValueError as exc:
            raise PermanentError(f"auth: {exc}") from None
        return made

    def mask(self, text: str) -> str:
        """`text` without the auth's secrets or any URL password or secret parameter."""
        text = mask_url(text)
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 3:
                text = text.replace(secret, "***")
        return text

    def _url(self, template: str, values: dict[str, Any], what: str) -> str:
        url = self._render(template, values, what)
        if self.base_url and not url.startswith(("http://", "https://")):
            url = self.base_url.rstrip("/") + "/" + url.lstrip("/")
        return url

    def _render(self, template: str, values: dict[str, Any], what: str) -> str:
        try:
            return render(template, values)
        except KeyError as exc:
            name = exc.args[0]
            known = ", ".join(sorted(k for k in values if k != CURSOR)) or "none"
            raise PermanentError(
                f"{what} '{self.mask(template)}' uses {{{name}}}, which the parent record "
                f"does not have (fields: {known})"
            ) from None

    def _params(self, request: Request, values: dict[str, Any]) -> dict[str, Any]:
        """The request's parameters with templates filled; one that needs the cursor is
        left out on a first (full) load."""
        out: dict[str, Any] = {}
        for name, value in request.params.items():
            if isinstance(value, str) and fields_in(value):
                if CURSOR in fields_in(value) and values.get(CURSOR) is None:
                    continue
                out[name] = self._render(value, values, f"params.{name}")
            else:
                out[name] = as_text(value) if isinstance(value, bool) else value
        return out

    def _body(self, body: Any, values: dict[str, Any], where: str = "body") -> Any:
        """The JSON body with templates filled as in `params` (a key whose value needs the
        cursor is left out on a first load)."""
        if isinstance(body, dict):
            out = {}
            for key, value in body.items():
                needs = isinstance(value, str) and CURSOR in fields_in(value)
                if needs and values.get(CURSOR) is None:
                    continue
                out[key] = self._body(value, values, f"{where}.{key}")
            return out
        if isinstance(body, list):
            return [self._body(v, values, where) for v in body]
        if isinstance(body, str) and fields_in(body):
            return self._render(body, values, where)
        return body

    def _client(self) -> Client:
        c = self.config
        return Client(
            flow=self.context.flow,
            headers=self.headers,
            auth=self._auth().httpx_auth() if self.auth_raw is not None else None,
            timeout=c.timeout,
            retries=c.retries,
            backoff=c.backoff,
            per_second=c.rate_limit,
            mask=self.mask,
        )

    def _paginator(self, request: Request) -> Paginator:
        made: Paginator = extensions.build(extensions.PAGINATORS, request.paginate)
        return made

    # ---- pages -------------------------------------------------------------------------

    def _pages(self, client: Client, request: Request, values: dict[str, Any]) -> Iterator[Page]:
        """The pages of one stream, fetched one at a time."""
        paginator = self._paginator(request)
        url = self._url(request.url, values, "url")
        next_request: PageRequest | None = paginator.first(
            PageRequest(url, self._params(request, values))
        )
        sent = self._body(request.body, values)
        limit = getattr(paginator.options, "max_pages", None)
        while next_request is not None:
            page = next_request
            shown = httpx.URL(page.url).copy_merge_params(page.params) if page.params else page.url
            where = self.mask(f"page {page.number} of {request.method} {shown}")
            response = client.send(request.method, page.url, page.params, sent, where)
            try:
                body = json.loads(response.content)
            except ValueError as exc:
                raise PermanentError(
                    f"{where}: the response is not valid JSON ({exc}); "
                    f"Content-Type {response.headers.get('content-type', 'none')}"
                ) from None
            records = self._records(body, request, where)
            yield Page(where, len(response.content), body, records)
            if limit is not None and page.number >= limit:
                return
            next_request = paginator.next(page, response, body, records)

    def _records(self, body: Any, request: Request, where: str) -> list[Any]:
        if request.records is not None:
            found = select(body, request.records)
            if isinstance(found, list):
                return found
            raise PermanentError(
                f"{where}: records '{request.records}' selects "
                f"{'nothing' if found is None else type(found).__name__} in the response"
                f"{_keys(body)}; point records: at the list of records"
            )
        if isinstance(body, list):
            return body
        is_map = isinstance(body, dict)
        lists = [k for k, v in body.items() if isinstance(v, list)] if is_map else []
        if len(lists) == 1:
            found = body[lists[0]]
            assert isinstance(found, list)
            return found
        raise PermanentError(
            f"{where}: cannot tell which part of the response holds the records"
            f"{_keys(body)}; set records: (e.g. records: data.items)"
        )

    def _parents(self, client: Client, window: Window | None) -> Iterator[dict[str, Any]]:
        """Each parent record, as the fields the child request and parent_fields use."""
        parent = self.config.parent
        assert parent is not None
        wanted = {f.split(".")[0] for f in self._child_fields()} | set(self.config.parent_fields)
        values = {CURSOR: window.after} if window is not None else {}
        for page in self._pages(client, parent, values):
            for n, record in enumerate(page.records):
                if not isinstance(record, dict):
                    raise PermanentError(
                        f"{page.where}: parent record {n + 1} is not an object; "
                        "point the parent's records: at the list of objects"
                    )
                yield {k: record[k] for k in sorted(wanted) if k in record}

    def _child_fields(self) -> list[str]:
        texts = [self.config.url] + [v for v in self.config.params.values() if isinstance(v, str)]
        return [f for t in texts for f in fields_in(t) if f != CURSOR]

    # ---- the Home contract -------------------------------------------------------------

    def describe(self) -> str:
        return self.mask(f"http {self._shown_url()}")

    def _shown_url(self) -> str:
        url = self.config.url
        if self.base_url and not url.startswith(("http://", "https://")):
            url = self.base_url.rstrip("/") + "/" + url.lstrip("/")
        return url

    def _extra(self) -> list[pa.Field]:
        return [pa.field(f"parent_{name}", pa.string()) for name in self.config.parent_fields]

    def schema(self) -> pa.Schema:
        if self._schema is None:
            if self.config.columns:
                fields = [pa.field(n, parse_type(t)) for n, t in self.config.columns.items()]
                base = pa.schema(fields)
            else:
                base = self._infer()
            self._schema = pa.schema([*base, *self._extra()])
        return self._schema

    def _infer(self) -> pa.Schema:
        client = self._client()
        try:
            values: dict[str, Any] = {}
            if self.config.parent is not None:
                values = next(iter(self._parents(client, None)), {})
                if not values:
                    raise PermanentError(
                        f"the parent request ({self.mask(self.config.parent.url)}) has no "
                        "records to infer the columns from; declare them in columns:"
                    )
            first = next(iter(self._pages(client, self.config, values)))
        finally:
            client.close()
        if not first.records:
            raise PermanentError(
                f"{first.where}: no records to infer the columns from; declare them in columns:"
            )
        self._source = f"inferred from {first.where}"
        return infer(first.records, first.where)

    def plan(self, window: Window | None) -> list[WorkUnit]:
        if self.config.parent is None:
            return [WorkUnit(id=self.mask(self._shown_url()), payload={"values": {}})]
        units: list[WorkUnit] = []
        seen: set[str] = set()
        client = self._client()
        try:
            for values in self._parents(client, window):
                url = self.mask(self._url(self.config.url, values, "url"))
                unit_id = url
                if unit_id in seen:  # two parent records naming the same child stream
                    continue
                seen.add(unit_id)
                units.append(WorkUnit(id=unit_id, payload={"values": values}))
        finally:
            client.close()
        return units

    def read(self, unit: WorkUnit) -> Iterator[pa.RecordBatch]:
        schema = self.schema()
        extra = self._extra()
        inferred = not self.config.columns
        base = pa.schema(list(schema)[: len(schema) - len(extra)])
        columns = Columns(base, self._source, closed=inferred)
        window = unit.window
        values = dict(unit.payload.get("values", {}))
        if window is not None and window.after is not None:
            values[CURSOR] = window.after
        client = self._client()
        memory = self.context.memory
        try:
            for page in self._pages(client, self.config, values):
                # One page is held at a time until its batch is handed on: its text and
                # the Python objects parsed from it (measured: about 4x the text for small
                # records). The API sets the page size; a paginator's `size:` asks for less.
                held = PARSED_PER_BYTE * page.size
                memory.hold(held)
                try:
                    batch = columns.batch(page.records, page.where)
                    if window is not None and window.after is not None and batch.num_rows:
                        batch = _after(batch, window)
                    if extra:
                        batch = _with_parent(batch, extra, values)
                finally:
                    memory.hold(-held)
                yield batch
        finally:
            client.close()

    def check(self) -> str | None:
        """One request (the parent's first page under fan-out): status, auth and the
        records selector."""
        client = self._client()
        try:
            request = self.config.parent or self.config
            next(iter(self._pages(client, request, {})))
        except HyggeError as exc:
            return str(exc)
        finally:
            client.close()
        return None


def _keys(body: Any) -> str:
    if isinstance(body, dict):
        keys = list(body)[:10]
        return f" (its keys: {', '.join(map(str, keys)) or 'none'})"
    return f" (a {type(body).__name__})"


def _after(batch: pa.RecordBatch, window: Window) -> pa.RecordBatch:
    """Records strictly after the window's bound; a NULL cursor never passes."""
    column = batch.column(window.cursor)
    keep = pc.greater(column, pa.scalar(window.after, type=column.type))
    return batch.filter(pc.fill_null(keep, False))


def _with_parent(
    batch: pa.RecordBatch, extra: list[pa.Field], values: dict[str, Any]
) -> pa.RecordBatch:
    arrays = list(batch.columns)
    for field in extra:
        value = values.get(field.name.removeprefix("parent_"))
        text = None if value is None else as_text(value)
        arrays.append(pa.array([text] * batch.num_rows, pa.string()))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema([*batch.schema, *extra]))
