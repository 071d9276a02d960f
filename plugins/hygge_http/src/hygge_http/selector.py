"""`records:` selectors and `{name}` templates: the two small languages of the http home."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_FIELD = re.compile(r"\{([A-Za-z_][\w.]*)\}")


def parse_path(path: str) -> list[str | int]:
    """`$.data.items`, `data.items`, `results[0].rows` → steps; `$` or "" is the body."""
    text = path.strip()
    text = text.removeprefix("$").removeprefix(".")
    steps: list[str | int] = []
    pos = 0
    while pos < len(text):
        if text[pos] == ".":
            pos += 1
            continue
        m = _STEP.match(text, pos)
        if not m:
            raise ValueError(f"'{path}' is not a selector; write e.g. data.items or $.results[0]")
        steps.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    return steps


def select(body: Any, path: str) -> Any:
    """The value at `path` in a parsed JSON body, or None where a step is missing."""
    value = body
    for step in parse_path(path):
        if isinstance(step, int):
            inside = isinstance(value, list) and -len(value) <= step < len(value)
            value = value[step] if inside else None
        else:
            value = value.get(step) if isinstance(value, dict) else None
        if value is None:
            return None
    return value


def fields_in(text: str) -> list[str]:
    """The `{name}` fields a template refers to."""
    return _FIELD.findall(text)


def as_text(value: Any) -> str:
    """A value as a URL or parameter shows it: ISO 8601 for times, `true` for booleans."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(text: str, values: dict[str, Any]) -> str:
    """`text` with each `{name}` replaced by `values[name]` (a dotted name looks inside)."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        value = select(values, name) if "." in name else values.get(name)
        if value is None:
            raise KeyError(name)
        return as_text(value)

    return _FIELD.sub(one, text)
