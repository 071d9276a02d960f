"""Load a YAML file into plain data while remembering where every key and value stood.

Error messages must name file:line for any field, including fields inside plugin configs
that core knows nothing about, so locations are kept by path (`("flows", "users", "store",
"mode")`) rather than attached to objects.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from hygge_core.errors import ConfigError, Problem

Path = tuple[Any, ...]

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Document:
    """A loaded config file: its data, and the line/column of every value and key."""

    file: str
    data: Any
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    expanded: set[Path] = field(default_factory=set)

    def where(self, path: Path, *, key: bool = False) -> tuple[int | None, int | None]:
        """The (line, column) of `path`, or of its closest ancestor that has one."""
        p = tuple(path)
        while p:
            table = self.keys if key else self.values
            if p in table:
                return table[p]
            if p in self.values:
                return self.values[p]
            p = p[:-1]
            key = False
        return (1, 1)

    def is_secret_path(self, path: Path) -> bool:
        """Whether the value at `path` came from the environment (may be a secret)."""
        return any(tuple(path[: i + 1]) in self.expanded for i in range(len(path)))


def load_document(path: str, env: dict[str, str] | None = None) -> Document:
    """Parse `path`; raise `ConfigError` listing every YAML and `${VAR}` problem found."""
    env = dict(os.environ) if env is None else env
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ConfigError([Problem(f"file not found: {path}", hint="check the path")]) from None
    except OSError as exc:
        raise ConfigError([Problem(f"cannot read {path}: {exc.strerror}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [
                Problem(
                    f"invalid YAML: {reason}",
                    file=path,
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                    hint="check indentation and quoting around this line",
                )
            ]
        ) from None
    doc = Document(file=path, data=None)
    problems: list[Problem] = []
    doc.data = _build(node, (), doc, env, problems) if node is not None else None
    if problems:
        raise ConfigError(problems)
    return doc


_constructor = yaml.SafeLoader("")


def _build(
    node: yaml.Node, path: Path, doc: Document, env: dict[str, str], problems: list[Problem]
) -> Any:
    doc.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str | int):
                key = str(key)
            if key in out:
                problems.append(
                    Problem(
                        f"key '{key}' appears twice in the same mapping",
                        file=doc.file,
                        line=key_node.start_mark.line + 1,
                        column=key_node.start_mark.column + 1,
                        hint="remove or rename one of them",
                    )
                )
            doc.keys[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _build(value_node, (*path, key), doc, env, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), doc, env, problems) for i, item in enumerate(node.value)]
    value = _constructor.construct_object(node, deep=True)
    if isinstance(value, str) and "$" in value:
        value = _expand(value, path, node, doc, env, problems)
        if (
            isinstance(node, yaml.ScalarNode)
            and node.tag == "tag:yaml.org,2002:str"
            and node.style is None
        ):
            # An unquoted ${PORT} should become 5432, as if the number had been written.
            resolved = yaml.safe_load(value) if value else value
            if isinstance(resolved, int | float | bool):
                value = resolved
    return value


def _expand(
    text: str,
    path: Path,
    node: yaml.Node,
    doc: Document,
    env: dict[str, str],
    problems: list[Problem],
) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        doc.expanded.add(path)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        problems.append(
            Problem(
                f"environment variable {name} is not set",
                file=doc.file,
                line=node.start_mark.line + 1,
                column=node.start_mark.column + 1,
                hint=f"export {name}=..., or give a default: ${{{name}:-value}}",
            )
        )
        return ""

    return _VAR.sub(replace, text)
