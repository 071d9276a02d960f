"""flows.yaml mistakes in an http home are reported at their line, with the fix."""

from __future__ import annotations

import pathlib

from hygge_core.testing import FlowHarness


def test_paginator_and_auth_options_are_checked(tmp_path: pathlib.Path) -> None:
    harness = FlowHarness(tmp_path)
    home = {
        "type": "http",
        "url": "http://127.0.0.1:9/items",
        "paginate": {"type": "page", "sise": 100},
        "auth": {"type": "bearer"},
        "columns": {"id": "int65"},
    }
    message = harness.config_error({"f": {"home": home, "store": harness.parquet_sink()}})
    assert (
        "field 'paginate': 'page' has no option 'sise'; did you mean 'size'? its options: "
        "max_pages, total, size, param, size_param, start"
    ) in message
    assert "field 'auth': 'bearer' needs 'token'" in message
    assert "field 'columns': column 'id': unknown type 'int65'" in message


def test_an_unknown_paginator_suggests_the_close_one(tmp_path: pathlib.Path) -> None:
    harness = FlowHarness(tmp_path)
    home = {"type": "http", "url": "http://127.0.0.1:9/items", "paginate": "lnk"}
    message = harness.config_error({"f": {"home": home, "store": harness.parquet_sink()}})
    assert "field 'paginate': unknown type 'lnk'; did you mean 'link'?" in message
