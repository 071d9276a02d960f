"""`vars:` and `--var NAME=VALUE`: named values that flows.yaml uses as `${var.NAME}`.

Expanded after the file is read (the `vars:` section may stand anywhere in it), over the
loaded data, each reference located at its own file:line. A `--var` wins over `vars:`.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from hygge_core.config.loader import Document, Path
from hygge_core.errors import Problem

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REF = re.compile(r"\$\$|\$\{var\.([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def parse_assignments(items: list[str]) -> dict[str, str]:
    """`["day=2026-01-01", "n=5"]` → `{"day": "2026-01-01", "n": "5"}`.

    Raises `ValueError` with the message users see for an item that is not `NAME=VALUE`.
    """
    found: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not NAME.fullmatch(name.strip()):
            raise ValueError(
                f"--var takes NAME=VALUE (a name of letters, digits and '_'), not '{item}'"
            )
        found[name.strip()] = value
    return found


def expand_variables(doc: Document, given: dict[str, str], problems: list[Problem]) -> None:
    """Replace every `${var.NAME}` in `doc.data` by the variable's value, in place.

    Problems (an undefined variable, a `vars:` entry that is not one value, a `--var` that
    nothing uses) are added to `problems`, each at its line.
    """

    def problem(path: Path, message: str, hint: str, key: bool = False) -> None:
        line, column = doc.where(path, key=key)
        problems.append(Problem(message, file=doc.file, line=line, column=column, hint=hint))

    data = doc.data
    declared = data.get("vars") if isinstance(data, dict) else None
    values: dict[str, Any] = {}
    if declared is not None and not isinstance(declared, dict):
        problem(("vars",), "'vars:' must map variable names to values", "write vars: {day: 1}")
        declared = None
    for name, value in (declared or {}).items():
        where: Path = ("vars", name)
        if not NAME.fullmatch(str(name)):
            problem(where, f"invalid variable name '{name}'", "use letters, digits and '_'", True)
        elif isinstance(value, dict | list):
            problem(where, f"variable '{name}' must hold one value", "write text or a number")
        elif isinstance(value, str) and "${var." in value:
            problem(where, f"variable '{name}' refers to another variable", "write its value")
        else:
            values[str(name)] = value
    secret = {str(n) for n in (declared or {}) if doc.is_secret_path(("vars", n))}
    values.update(given)
    used: set[str] = set()

    def expand(text: str, path: Path) -> str:
        def value_of(name: str, default: str | None) -> Any:
            used.add(name)
            if name in secret:
                doc.expanded.add(path)
            if name in values:
                return values[name]
            if default is not None:
                return default
            known = sorted(values)
            close = difflib.get_close_matches(name, known, n=1)
            problem(
                path,
                f"variable '{name}' is not defined",
                f"did you mean '{close[0]}'?"
                if close
                else f"add it under vars: or pass --var {name}=VALUE, or give a default: "
                f"${{var.{name}:-value}}",
            )
            return ""

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            return _text(value_of(match.group(1), match.group(2)))

        return _REF.sub(replace, text)

    def walk(node: Any, path: Path) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            child = (*path, key)
            if child == ("vars",):
                continue
            if isinstance(value, str):
                if "${var." in value:
                    node[key] = expand(value, child)
            elif isinstance(value, dict | list):
                walk(value, child)

    if isinstance(data, dict | list):
        walk(data, ())
    written = {str(n) for n in declared or {}}
    for name in given:
        if name not in used and name not in written:
            close = difflib.get_close_matches(name, sorted(used | written), n=1)
            problems.append(
                Problem(
                    f"--var {name}: the file has no ${{var.{name}}} and no vars: entry '{name}'",
                    file=doc.file,
                    hint=f"did you mean '{close[0]}'?" if close else "check the name",
                )
            )


def _text(value: Any) -> str:
    """A variable's value inside a longer text: YAML's spelling for booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
