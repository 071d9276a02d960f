"""`hygge preview` and `hygge validate --connect` on an API flow; a third-party paginator
registered through the `hygge_http.paginators` entry-point group."""

from __future__ import annotations

import pathlib
import textwrap
from typing import Any

import yaml
from fakeapi import FakeApi

from hygge_core.testing import run_cli

TOKEN = "preview-T0KEN-secret"


def write(tmp_path: pathlib.Path, home: dict[str, Any]) -> pathlib.Path:
    store = {"type": "parquet", "path": str(tmp_path / "sink")}
    path = tmp_path / "flows.yaml"
    path.write_text(yaml.safe_dump({"flows": {"f": {"home": home, "store": store}}}))
    return path


def test_preview_shows_the_first_records(api: FakeApi, tmp_path: pathlib.Path) -> None:
    api.generate("items", 500)
    path = write(tmp_path, {"type": "http", "url": f"{api.url}/link/items", "paginate": "link"})
    done = run_cli("preview", str(path), "--flow", "f", "--limit", "3")
    assert done.code == 0, done.text
    assert "item-0" in done.out and "item-2" in done.out and "item-3" not in done.out
    assert len(api.requests) == 2, "types from page 1, then page 1 again: no more pages"


def test_validate_connect_reports_status_auth_and_selector(
    api: FakeApi, tmp_path: pathlib.Path
) -> None:
    api.generate("items", 10)
    api.auth = {"bearer": TOKEN}
    auth = {"type": "bearer", "token": "${HTTP_TEST_SECRET}"}
    good = {"type": "http", "url": f"{api.url}/next_url/items", "records": "data", "auth": auth}
    done = run_cli(
        "validate", "--connect", str(write(tmp_path, good)), env={"HTTP_TEST_SECRET": TOKEN}
    )
    assert done.code == 0, done.text
    assert "1 flow valid, all connections answer" in done.out

    done = run_cli(
        "validate", "--connect", str(write(tmp_path, good)), env={"HTTP_TEST_SECRET": "wrong"}
    )
    assert done.code == 1
    assert (
        f"f: home http {api.url}/next_url/items: page 1 of GET {api.url}/next_url/items: "
        'HTTP 401 Unauthorized: {"error": "bad bearer token"}; the API did not accept the '
        "credentials: check auth:"
    ) in done.out

    wrong_selector = {**good, "records": "data.items"}
    done = run_cli(
        "validate",
        "--connect",
        str(write(tmp_path, wrong_selector)),
        env={"HTTP_TEST_SECRET": TOKEN},
    )
    assert done.code == 1
    assert (
        "records 'data.items' selects nothing in the response (its keys: data, links); "
        "point records: at the list of records"
    ) in done.out
    assert TOKEN not in done.text


def test_a_plugin_paginator_and_auth_from_entry_points(
    api: FakeApi, tmp_path: pathlib.Path
) -> None:
    """The escape hatch as a third party uses it: a distribution on the path whose entry
    points name a `Paginator` and an `Auth` subclass; flows.yaml then uses them by name."""
    site = tmp_path / "site"
    (site / "hal_paging").mkdir(parents=True)
    (site / "hal_paging" / "__init__.py").write_text(
        textwrap.dedent(
            '''
            import httpx
            from pydantic import Field

            from hygge_http import Auth, PageRequest, Paginator, select
            from hygge_http.auth import Options


            class HouseKey(Auth):
                """The house's key in X-Api-Key, upper-cased as the house wants it."""

                class HouseOptions(Options):
                    key: str = Field(description="the key")

                options_model = HouseOptions

                def httpx_auth(self):
                    key = self.options.key.upper()

                    def sign(request):
                        request.headers["X-Api-Key"] = key
                        return request

                    return httpx.FunctionAuth(sign)

                def secrets(self):
                    return [self.options.key, self.options.key.upper()]


            class LinksNext(Paginator):
                """Follows body.links.next, relative to the page's URL."""

                def next(self, request, response, body, records):
                    target = select(body, "links.next")
                    if not target:
                        return None
                    url = str(response.url.join(target))
                    return PageRequest(url, {}, request.number + 1)
            '''
        )
    )
    info = site / "hal_paging-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hal-paging\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[hygge_http.paginators]\nlinks = hal_paging:LinksNext\n\n"
        "[hygge_http.auth]\nhouse = hal_paging:HouseKey\n"
    )
    api.generate("items", 420)
    api.auth = {"header": ("X-Api-Key", "S3CRET-K")}
    home = {"type": "http", "url": f"{api.url}/next_url/items", "paginate": "links"}
    home["records"] = "data"
    home["auth"] = {"type": "house", "key": "s3cret-k"}
    done = run_cli("run", str(write(tmp_path, home)), env={"PYTHONPATH": str(site)})
    assert done.code == 0, done.text
    import pyarrow.parquet as pq

    got = pq.read_table(tmp_path / "sink").sort_by("id").to_pylist()
    assert got == api.datasets["items"]

    home["paginate"] = "linkz"
    done = run_cli("validate", str(write(tmp_path, home)), env={"PYTHONPATH": str(site)})
    assert done.code == 2
    assert "unknown type 'linkz'; did you mean 'link'? known: cursor, link, links" in done.text
