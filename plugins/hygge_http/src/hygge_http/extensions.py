"""Finding paginators and auth schemes by name: the built-in ones, then entry points.

A third-party distribution adds one in a few lines::

    [project.entry-points."hygge_http.paginators"]
    hal = "my_package.paging:HalPaginator"

and users write `paginate: {type: hal, ...}`. A name that a plugin gives twice, or that
shadows a built-in one, is an error naming the distributions.
"""

from __future__ import annotations

import difflib
import functools
from importlib.metadata import entry_points
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hygge_http import auth, paginators

PAGINATORS = "hygge_http.paginators"
AUTH = "hygge_http.auth"

T = TypeVar("T")


@functools.cache
def _registered(group: str) -> dict[str, Any]:
    """name → entry point of `group`, checked for clashes."""
    found: dict[str, Any] = {}
    builtin = paginators.BUILTIN if group == PAGINATORS else auth.BUILTIN
    for ep in entry_points(group=group):
        dist = ep.dist.name if ep.dist else "?"
        if ep.name in builtin:
            raise ValueError(f"{dist} registers '{ep.name}' in {group}, a built-in name")
        if ep.name in found:
            other = found[ep.name].dist.name if found[ep.name].dist else "?"
            raise ValueError(f"'{ep.name}' in {group} is registered by both {other} and {dist}")
        found[ep.name] = ep
    return found


def lookup(group: str, name: str) -> type:
    """The class registered as `name` in `group` (built-ins first)."""
    builtin: dict[str, Any] = dict(paginators.BUILTIN if group == PAGINATORS else auth.BUILTIN)
    if name in builtin:
        found: type = builtin[name]
        return found
    plugins = _registered(group)
    if name in plugins:
        ep = plugins[name]
        try:
            loaded: type = ep.load()
            return loaded
        except Exception as exc:
            dist = ep.dist.name if ep.dist else "?"
            raise ValueError(f"'{name}' from {dist} failed to load: {exc}") from None
    known = sorted({*builtin, *plugins})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise ValueError(f"unknown type '{name}'; {hint}known: {', '.join(known)}")


def options(group: str, raw: Any) -> BaseModel:
    """`raw` (a name, or a mapping with `type:`) as the named class's validated options.

    A ValueError names the field at fault, for the config's error message.
    """
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise ValueError("write a name, or a mapping with type: and the options")
    cls = lookup(group, raw["type"])
    model: type[BaseModel] = getattr(cls, "options_model", None) or BaseModel
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        name = raw["type"]
        if first["type"] == "extra_forbidden":
            known = [f.alias or n for n, f in model.model_fields.items() if n != "type"]
            close = difflib.get_close_matches(where, known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            message = f"'{name}' has no option '{where}'; {hint}its options: {', '.join(known)}"
        elif first["type"] == "missing":
            message = f"'{name}' needs '{where}'"
        else:
            message = f"'{name}' option '{where}': {first['msg']}"
        raise ValueError(message) from None


def build(group: str, raw: Any) -> Any:
    """A fresh instance (a paginator per stream, an auth per client) from `raw`."""
    opts = options(group, raw)
    return lookup(group, str(getattr(opts, "type", "")))(opts)
