"""Registers the `http` home with hygge (entry point `hygge.http`)."""

from __future__ import annotations

from collections.abc import Callable

from hygge_core import hookimpl


@hookimpl
def hygge_register_homes(register: Callable[[str, type | str], None]) -> None:
    # By path: httpx loads only when a flow uses the type.
    register("http", "hygge_http.home:HttpHome")
