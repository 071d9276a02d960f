"""Config reference tables made from pydantic models, so docs cannot drift from code.

A Markdown file holds generated blocks between markers naming what they document::

    <!-- reference: home csv -->
    | field | type | default | meaning |
    ...
    <!-- end reference -->

What a marker can name: `home NAME` or `store NAME` (a registered type's `config_model`,
fields of the base `HomeConfig`/`StoreConfig` left out unless the plugin narrows them),
`connection PROTOCOL` (a storage's `connection_model`), or `model DOTTED.PATH` (any pydantic
model, e.g. `model hygge_core.config.models.FlowSpec`).

`python -m hygge_core.testing.reference FILE...` rewrites the blocks in place; `check(FILE)`
returns the blocks that differ (hygge's docs test uses it). A plugin author can run the same
command on their own README.
"""

from __future__ import annotations

import importlib
import re
import sys
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

BLOCK = re.compile(
    r"(<!-- reference: (?P<what>[^>]+?) -->\n)(?P<body>.*?)(<!-- end reference -->)", re.S
)


class Unavailable(LookupError):
    """A block names a type or model that is not installed here."""


def type_text(annotation: Any) -> str:
    """A short, user-facing rendering of a field's annotation."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:  # a type with validators: shown as the type it holds
        return type_text(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [type_text(a) for a in args if a is not type(None)]
        text = " or ".join(parts)
        return text + (" or null" if type(None) in args else "")
    if origin in (list, tuple, set, frozenset):
        return f"list of {type_text(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping {type_text(args[0])} → {type_text(args[1])}" if args else "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", Any: "any"}
    if annotation in names:
        return names[annotation]
    return getattr(annotation, "__name__", str(annotation))


def default_text(field: FieldInfo) -> str:
    """`required`, or the default as YAML would spell it."""
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "see below"
    else:
        value = field.default
    if value is None:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`{value!r}`" if value.strip() != value or not value else f"`{value}`"
    return f"`{value}`"


def model_table(model: type[BaseModel], skip: set[str] | None = None) -> str:
    """A Markdown table of `model`'s fields: name, type, default and description."""
    lines = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if skip and name in skip:
            continue
        meaning = (field.description or "").replace("|", "\\|")
        lines.append(
            f"| `{name}` | {type_text(field.annotation)} | {default_text(field)} | {meaning} |"
        )
    return "\n".join(lines) + "\n"


def _inherited(model: type[BaseModel], base: type[BaseModel]) -> set[str]:
    """Fields `model` takes unchanged from `base` (documented once, with the base)."""
    same = set()
    for name, field in base.model_fields.items():
        mine = model.model_fields.get(name)
        if (
            mine is not None
            and mine.annotation == field.annotation
            and (mine.default == field.default)
        ):
            same.add(name)
    return same


def render(what: str) -> str:
    """The table a marker asks for; `Unavailable` when its plugin is not installed."""
    kind, _, name = what.strip().partition(" ")
    if kind == "model":
        module, _, attr = name.rpartition(".")
        return model_table(getattr(importlib.import_module(module), attr))
    from hygge_core.home import HomeConfig
    from hygge_core.plugins import load_registry
    from hygge_core.store import StoreConfig

    registry = load_registry()
    if kind in ("home", "store"):
        table = registry.homes if kind == "home" else registry.stores
        if name not in table:
            raise Unavailable(f"{kind} type '{name}' is not installed")
        model = table[name].config_model
        base = HomeConfig if kind == "home" else StoreConfig
        return model_table(model, skip=_inherited(model, base))
    if kind == "connection":
        if name not in registry.storages:
            raise Unavailable(f"no storage serves '{name}://'")
        return model_table(registry.storages[name].connection_model)
    raise ValueError(f"unknown reference block '{what}'")


def rewrite(text: str) -> tuple[str, list[str]]:
    """`text` with every block regenerated, and the blocks that could not be (missing)."""
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        try:
            body = render(match.group("what"))
        except Unavailable as exc:
            missing.append(str(exc))
            return match.group(0)
        return match.group(1) + body + match.group(4)

    return BLOCK.sub(fill, text), missing


def check(path: str) -> tuple[list[str], list[str]]:
    """(blocks of `path` whose text differs from the models, blocks that cannot be made)."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    stale = []
    missing = []
    for match in BLOCK.finditer(text):
        try:
            if render(match.group("what")) != match.group("body"):
                stale.append(match.group("what"))
        except Unavailable as exc:
            missing.append(str(exc))
    return stale, missing


def main(argv: list[str]) -> int:
    """Rewrite the reference blocks of every file named on the command line."""
    for path in argv:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        new, missing = rewrite(text)
        if new != text:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(new)
            print(f"{path}: updated")
        for reason in missing:
            print(f"{path}: kept a block as it was: {reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
