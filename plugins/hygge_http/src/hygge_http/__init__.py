"""hygge-http: a REST/JSON API as a hygge home.

The names below are the API for plugin authors who add a paginator or an auth scheme
through the entry-point groups `hygge_http.paginators` and `hygge_http.auth` (docs/http.md,
"Your own paginator or auth").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hygge_core import lazy_exports

_EXPORTS = {
    "Auth": "hygge_http.auth",
    "PageRequest": "hygge_http.paginators",
    "Paginator": "hygge_http.paginators",
    "select": "hygge_http.selector",
}

if TYPE_CHECKING:
    from hygge_http.auth import Auth
    from hygge_http.paginators import PageRequest, Paginator
    from hygge_http.selector import select

__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["Auth", "PageRequest", "Paginator", "select"]
