"""`entities:`: one flow template expanded into one flow per entity (a table, a file).

Expanded when the file is loaded, before any flow is validated, so that each expanded flow
is checked on its own and its errors name it (`shop.orders`). Locations are copied from the
template, so an error in an expanded flow points at the template's line.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from typing import Any

from hygge_core.config.loader import Document, Path
from hygge_core.errors import HyggeError, Problem, describe_error
from hygge_core.flownames import FLOW_NAME_RULE, flow_name_problem
from hygge_core.plugins import Registry

PLACEHOLDER = "{entity}"
_WILDCARDS = re.compile(r"\*\*|\*|\?|\[[^\]]*\]")


def expand_entities(
    doc: Document, registry: Registry, problems: list[Problem]
) -> dict[str, list[str]]:
    """Replace every flow with `entities:` in `doc.data["flows"]` by one flow per entity,
    named `TEMPLATE.ENTITY`, in place. Returns each template's name → its flows' names."""
    data = doc.data
    flows = data.get("flows") if isinstance(data, dict) else None
    if not isinstance(flows, dict) or not any(
        isinstance(raw, dict) and "entities" in raw for raw in flows.values()
    ):
        return {}
    connections = data.get("connections")
    connections = connections if isinstance(connections, dict) else {}
    templates: dict[str, list[str]] = {}
    expanded: dict[Any, Any] = {}
    for name, raw in flows.items():
        if not (isinstance(raw, dict) and "entities" in raw):
            expanded[name] = raw
            continue
        where: Path = ("flows", name, "entities")
        entities = _entities(doc, registry, connections, str(name), raw, problems)
        names: list[str] = []
        for entity in entities:
            flow = f"{name}.{entity}"
            line, column = doc.where(where)
            bad = flow_name_problem(flow)
            if bad or flow in flows or flow in expanded:
                problems.append(
                    Problem(
                        f"entity '{entity}' makes the flow name '{flow}', "
                        + (FLOW_NAME_RULE if bad else "which another flow already has"),
                        file=doc.file,
                        line=line,
                        column=column,
                        flow=str(name),
                        field="entities",
                        hint="leave it out of the list, the query or the glob",
                    )
                )
                continue
            body = {k: v for k, v in raw.items() if k != "entities"}
            expanded[flow] = _substitute(copy.deepcopy(body), entity)
            names.append(flow)
        templates[str(name)] = names
    data["flows"] = expanded
    _copy_locations(doc, templates)
    return templates


def _entities(
    doc: Document,
    registry: Registry,
    connections: dict[str, Any],
    name: str,
    raw: dict[str, Any],
    problems: list[Problem],
) -> list[str]:
    """The names `entities:` gives: its list, its query's rows or its glob's matches."""
    spec = raw["entities"]
    where: Path = ("flows", name, "entities")

    def problem(message: str, hint: str) -> list[str]:
        line, column = doc.where(where)
        problems.append(
            Problem(
                message, file=doc.file, line=line, column=column, flow=name, field="entities",
                hint=hint,
            )
        )  # fmt: skip
        return []

    if isinstance(spec, list) and spec and all(isinstance(e, str | int) for e in spec):
        return [str(e) for e in spec]
    if not (isinstance(spec, dict) and len(spec) == 1 and set(spec) <= {"query", "glob"}):
        return problem(
            "entities: takes a list of names, {query: SQL} or {glob: PATTERN}",
            "e.g. entities: [orders, customers]",
        )
    try:
        if "query" in spec:
            found = _query(registry, connections, name, raw.get("home"), str(spec["query"]))
        else:
            found = _glob(doc, registry, connections, raw.get("home"), str(spec["glob"]))
    except Exception as exc:  # hygge's, a driver's or a filesystem's: one paragraph
        what = "the query" if "query" in spec else "the pattern"
        return problem(f"entities: {describe_error(exc)}", f"check {what}")
    if not found:
        kind = "query returned no rows" if "query" in spec else "glob matched no files"
        return problem(f"entities: the {kind}; the template makes no flow", "check it")
    return found


def _query(
    registry: Registry,
    connections: dict[str, Any],
    name: str,
    home: Any,
    query: str,
) -> list[str]:
    """The first column of `query`, run by the template home's type (`Home.entity_names`)."""
    from hygge_core.context import FlowContext
    from hygge_core.storage import StorageResolver

    if not isinstance(home, dict) or "type" not in home:
        raise _Refused("a query needs the template's home as a mapping with a type:")
    cls = registry.homes.get(home["type"])
    if cls is None:
        raise _Refused(f"unknown home type '{home['type']}'")
    context = FlowContext(
        flow=name,
        run_id="entities",
        storage=StorageResolver(registry.storages, connections),
        connections=connections,
    )
    return [str(n) for n in cls.entity_names(query, home, context)]


def _glob(
    doc: Document, registry: Registry, connections: dict[str, Any], home: Any, pattern: str
) -> list[str]:
    """What the wildcards of `pattern` matched in each file it finds, through the storage
    of its protocol (and the template home's `connection:`)."""
    from hygge_core.paths import folder_of, rebase_path
    from hygge_core.storage import StorageResolver

    pattern = rebase_path(pattern, folder_of(doc.file))
    connection = home.get("connection") if isinstance(home, dict) else None
    fs, inside = StorageResolver(registry.storages, connections).resolve(pattern, connection)
    parts = _WILDCARDS.split(inside)
    regex = "".join(
        re.escape(part) + ("(.*)" if i < len(parts) - 1 else "") for i, part in enumerate(parts)
    )
    found = []
    for path in sorted(fs.glob(inside)):
        m = re.fullmatch(regex, path.rstrip("/"))
        if m:
            found.append("_".join(g.strip("/").replace("/", "_") for g in m.groups()) or path)
    return found


class _Refused(HyggeError):
    """The template cannot list entities the way `entities:` asks."""


def _substitute(node: Any, entity: str) -> Any:
    if isinstance(node, str):
        return node.replace(PLACEHOLDER, entity)
    if isinstance(node, dict):
        return {k: _substitute(v, entity) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, entity) for v in node]
    return node


def _copy_locations(doc: Document, templates: dict[str, list[str]]) -> None:
    """Give each expanded flow its template's lines, and its template's secret paths."""
    if not templates:
        return
    for table in (doc.values, doc.keys):
        for path, where in list(table.items()):
            if len(path) > 1 and path[0] == "flows" and path[1] in templates:
                for flow in templates[path[1]]:
                    table[("flows", flow, *path[2:])] = where
    for path in list(doc.expanded):
        if len(path) > 1 and path[0] == "flows" and path[1] in templates:
            doc.expanded.update(("flows", flow, *path[2:]) for flow in templates[path[1]])


def select(
    names: list[str], templates: dict[str, list[str]], wanted: list[str]
) -> tuple[list[str], list[str]]:
    """The flows `--flow` chose, in file order, and the patterns that matched none.

    A pattern is a flow's name, a template's name (all its flows), or a glob (`shop.*`).
    """
    chosen: set[str] = set()
    missing = []
    for pattern in wanted:
        if pattern in templates:
            hits = set(templates[pattern])
        elif any(ch in pattern for ch in "*?["):
            hits = {n for n in names if fnmatch.fnmatchcase(n, pattern)}
        else:
            hits = {pattern} & set(names)
        if not hits:
            missing.append(pattern)
        chosen |= hits
    return [n for n in names if n in chosen], missing
