"""A flow's `transform:` and `checks:` lists, validated into a `Shaping` with file:line errors.

Each entry is `- NAME: options`; NAME is looked up among the registered transforms (or
checks), its options are normalised and validated by the class's model, and expressions
are parsed now, so `hygge validate` reports a typo in `filter:` at its line and character.
Column names are checked later, against the home's schema, when the flow plans.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from hygge_core.errors import PluginError

if TYPE_CHECKING:
    from hygge_core.config.resolve import _Collector
    from hygge_core.plugins import Registry, TypeTable
    from hygge_core.shaping import Shaping, Step


def compile_steps(
    c: _Collector, registry: Registry, flow: str, transform: list[Any], checks: list[Any]
) -> tuple[bool, Shaping | None]:
    """(ok, the flow's `Shaping`): ok is False after adding every problem found to `c`; the
    shaping is None for a flow without transforms and checks (pyarrow.compute not loaded)."""
    if not transform and not checks:
        return True, None
    from hygge_core.shaping import Shaping

    before = len(c.problems)
    steps = _entries(c, registry.transforms, flow, "transform", transform)
    tests = _entries(c, registry.checks, flow, "checks", checks)
    if len(c.problems) > before:
        return False, None
    return True, Shaping(flow, steps, tests)


def _entries(
    c: _Collector, table: TypeTable[Any], flow: str, key: str, raw: list[Any]
) -> list[Step]:
    from hygge_core.expr import ExprError, compile_expr
    from hygge_core.shaping import Step

    kind = "transform" if key == "transform" else "check"
    found: list[Step] = []
    for i, item in enumerate(raw):
        base = ("flows", flow, key, i)
        side = f"{key}[{i + 1}]"
        if not isinstance(item, dict) or len(item) != 1:
            c.add(
                base,
                f"each {kind} is a mapping of one {kind} name to its options",
                flow=flow,
                side=side,
                hint=f"write it as - NAME: options; {kind}s: {', '.join(sorted(table))}",
            )
            continue
        ((name, value),) = item.items()
        try:
            cls = table.get(str(name))
        except PluginError as exc:
            c.add((*base, name), str(exc), key=True, flow=flow, side=side, fld=str(name))
            continue
        if cls is None:
            close = difflib.get_close_matches(str(name), list(table), n=1)
            c.add(
                (*base, name),
                f"unknown {kind} '{name}'",
                key=True,
                flow=flow,
                side=side,
                fld=str(name),
                hint=f"did you mean '{close[0]}'?"
                if close
                else f"{kind}s: {', '.join(sorted(table))}",
            )
            continue
        model = cls.config_model
        try:
            config = model.model_validate(cls.normalize(value))
            obj = cls(config) if kind == "transform" else cls(config, label=_label(name, config))
        except ValidationError as exc:
            c.pydantic(exc, model, (*base, name), flow, side)
            continue
        except ValueError as exc:
            c.add((*base, name), str(exc), flow=flow, side=side, fld=str(name))
            continue
        bad = False
        for text in _expressions(config):
            try:
                compile_expr(text)
            except ExprError as exc:
                path = (*base, name, *_find(value, text))
                c.add(
                    path,
                    f"{exc.message} (at character {exc.offset + 1} of '{text}')",
                    flow=flow,
                    side=side,
                    fld=str(name),
                    hint="the expression language is described in docs/transforms.md",
                )
                bad = True
        if bad:
            continue
        line, _ = c.doc.where((*base, name), key=True)
        found.append(Step(obj, str(name), f"{c.doc.file}:{line}", i))
    return found


def _label(name: str, config: Any) -> str:
    """`not_null(email)`, `unique(id, day)`, `range(amount)`, `row_count`."""
    cols = getattr(config, "columns", None)
    col = getattr(config, "column", None)
    if isinstance(cols, list) and cols:
        return f"{name}({', '.join(map(str, cols))})"
    if isinstance(col, str):
        return f"{name}({col})"
    expression = getattr(config, "expression", None)
    if isinstance(expression, str):
        return f"{name}({expression if len(expression) <= 40 else expression[:37] + '...'})"
    return name


def _expressions(config: Any) -> list[str]:
    """The expression texts a step's options hold (`expression:`, derive's columns)."""
    texts = []
    expression = getattr(config, "expression", None)
    if isinstance(expression, str):
        texts.append(expression)
    if type(config).__name__ == "DeriveConfig":
        texts.extend(config.columns.values())
    return texts


def _find(value: Any, text: str) -> tuple[Any, ...]:
    """The path of `text` inside what the user wrote, for its line."""
    if value == text:
        return ()
    if isinstance(value, dict):
        for k, v in value.items():
            sub = _find(v, text)
            if sub != ("?",):
                return (k, *sub)
    if isinstance(value, list):
        for k, v in enumerate(value):
            sub = _find(v, text)
            if sub != ("?",):
                return (k, *sub)
    return ("?",)
