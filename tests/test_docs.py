"""The docs keep up with the code: hooks, config fields, CLI options, reference tables, links.

Each check fails naming what is undocumented, so adding a hook, a field or an option without
a word in docs/ is caught in review, not by a user.
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest
import typer.main
from pydantic import BaseModel

from hygge_core import hookspecs
from hygge_core.cli import app
from hygge_core.config.models import Defaults, ExecutorSpec, FileSpec, FlowSpec, RetryConfig
from hygge_core.home import HomeConfig, IncrementalConfig
from hygge_core.plugins import load_registry
from hygge_core.store import StoreConfig
from hygge_core.testing import reference

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# The page that documents each plugin of this repository whose docs are written by its own
# author. Until such a page exists, its plugin's field check is skipped (saying so) and links
# to it are not checked; from the moment it exists, both are strict.
PLUGIN_PAGES = {
    "hygge-sql": "sql.md",
    "hygge-cloud": "cloud.md",
    "hygge-dask": "dask.md",
    "hygge-delta": "delta.md",
    "hygge-iceberg": "iceberg.md",
    "hygge-metrics": "metrics.md",
    "hygge-http": "http.md",
}
OTHERS = set(PLUGIN_PAGES.values())


def docs_text() -> dict[pathlib.Path, str]:
    return {p: p.read_text() for p in sorted(DOCS.rglob("*.md"))}


# -- hooks -------------------------------------------------------------------------------


def hook_signatures() -> dict[str, str]:
    """`{name: "def name(args) -> ret"}` of every hook spec, as written in hookspecs.py."""
    tree = ast.parse(pathlib.Path(hookspecs.__file__).read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            "hookspec" in ast.unparse(d) for d in node.decorator_list
        ):
            ret = f" -> {ast.unparse(node.returns)}" if node.returns else ""
            found[node.name] = f"def {node.name}({ast.unparse(node.args)}){ret}"
    return found


def test_hookspecs_are_found() -> None:
    names = set(hook_signatures())
    assert {"hygge_register_homes", "hygge_type_for_path", "hygge_flow_failed"} <= names
    assert len(names) == len([n for n in dir(hookspecs) if n.startswith("hygge_")])


@pytest.mark.parametrize("name", sorted(hook_signatures()))
def test_every_hook_is_documented_with_its_exact_signature(name: str) -> None:
    page = (DOCS / "plugins" / "hooks.md").read_text()
    assert f"### `{name}`" in page, f"docs/plugins/hooks.md has no section '### `{name}`'"
    signature = hook_signatures()[name]
    assert signature in page, f"docs/plugins/hooks.md does not show `{signature}`"
    doc = getattr(hookspecs, name).__doc__ or ""
    first = doc.strip().splitlines()[0]
    assert first.rstrip(".") in page.replace("\n", " "), (
        f"the section of {name} should say what its docstring says: {first!r}"
    )


# -- config fields -----------------------------------------------------------------------

CORE_MODELS: list[type[BaseModel]] = [
    FileSpec,
    FlowSpec,
    RetryConfig,
    Defaults,
    ExecutorSpec,
    HomeConfig,
    IncrementalConfig,
    StoreConfig,
]


@pytest.mark.parametrize("model", CORE_MODELS, ids=lambda m: m.__name__)
def test_core_config_fields_are_in_the_flows_yaml_reference(model: type[BaseModel]) -> None:
    page = (DOCS / "flows-yaml.md").read_text()
    missing = [f for f in model.model_fields if f"`{f}`" not in page]
    assert not missing, f"docs/flows-yaml.md does not document {model.__name__}: {missing}"


def plugin_models() -> list[tuple[str, str, type[BaseModel], str]]:
    """(kind, name, model, distribution) of every installed home, store and storage
    connection."""
    registry = load_registry()
    out: list[tuple[str, str, type[BaseModel], str]] = []
    for kind, table in (("home", registry.homes), ("store", registry.stores)):
        out += [
            (kind, name, cls.config_model, registry.owners[(kind, name)])
            for name, cls in sorted(table.items())
        ]
    seen = set()
    for protocol, storage in sorted(registry.storages.items()):
        model = storage.connection_model
        if model.model_fields.keys() - {"type"} and model not in seen:
            seen.add(model)
            out.append(("connection", protocol, model, registry.owners[("storage", protocol)]))
    return out


def pages_about(kind: str, name: str, model: type[BaseModel]) -> list[str]:
    """The docs pages that talk about this type: they name it as `name`, `type: name` or,
    for a connection, its `type:` value or its protocol."""
    names = {name}
    type_field = model.model_fields.get("type")
    if kind == "connection" and type_field is not None and isinstance(type_field.default, str):
        names.add(type_field.default)
    pages = []
    for text in docs_text().values():
        if any(f"`{n}`" in text or f"type: {n}" in text or f"{n}://" in text for n in names):
            pages.append(text)
    return pages


@pytest.mark.parametrize(
    ("kind", "name", "model", "dist"),
    plugin_models(),
    ids=[f"{k}:{n}" for k, n, _, _ in plugin_models()],
)
def test_every_installed_plugin_field_is_documented(kind: str, name: str, model, dist) -> None:
    page = PLUGIN_PAGES.get(dist)
    if page and not (DOCS / page).exists():
        pytest.skip(f"docs/{page}, where {dist} documents its fields, is not written yet")
    pages = pages_about(kind, name, model)
    assert pages, f"no page under docs/ mentions the {kind} type `{name}`"
    undocumented = [
        f for f in model.model_fields if f != "type" and not any(f"`{f}`" in p for p in pages)
    ]
    assert not undocumented, (
        f"fields of {kind} `{name}` ({model.__module__}.{model.__name__}) that no page about it "
        f"documents as `field`: {undocumented}"
    )


def test_generated_reference_tables_match_the_models() -> None:
    stale, missing = reference.check(str(DOCS / "flows-yaml.md"))
    assert not stale, (
        f"docs/flows-yaml.md is out of date for {stale}: run "
        "python -m hygge_core.testing.reference docs/flows-yaml.md"
    )
    registry = load_registry()
    if {"parquet", "csv", "jsonl"} <= set(registry.stores):
        assert not missing, missing  # the plugins of this repository are installed: check all


def test_reference_rendering() -> None:
    class Example(BaseModel):
        """A model to render."""

        name: str
        mode: str = "append"
        flag: bool = False
        size: int | None = None

    table = reference.model_table(Example)
    assert "| `name` | string | required |  |" in table
    assert "| `flag` | boolean | `false` |  |" in table
    assert "| `size` | integer or null | — |  |" in table
    literal = reference.model_table(StoreConfig).splitlines()[3]
    assert literal.startswith("| `mode` | `append` \\| `replace` \\| `merge` | `append` |")


# -- the command line --------------------------------------------------------------------


def cli_commands() -> list[tuple[str, list[str]]]:
    """("hygge state show", [options]) for every command, and the global options."""
    root = typer.main.get_command(app)
    found = [("hygge", [o for p in root.params for o in p.opts if o.startswith("-")])]

    def walk(command, prefix: str) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            options = [o for p in sub.params for o in p.opts if o.startswith("-")]
            found.append((f"{prefix} {name}", options))
            walk(sub, f"{prefix} {name}")

    walk(root, "hygge")
    return found


@pytest.mark.parametrize(("command", "options"), cli_commands(), ids=lambda x: str(x))
def test_every_cli_command_and_option_is_documented(command: str, options: list[str]) -> None:
    page = (DOCS / "cli.md").read_text()
    if command != "hygge":
        assert f"`{command}" in page, f"docs/cli.md does not document `{command}`"
    missing = [o for o in options if f"`{o}" not in page and f" {o}`" not in page]
    assert not missing, f"docs/cli.md does not document {missing} of `{command}`"


# -- links -------------------------------------------------------------------------------

LINK = re.compile(r"\]\((?P<target>[^)#\s]+\.md)(?:#(?P<anchor>[^)\s]+))?\)")


def anchors(text: str) -> set[str]:
    """GitHub-style anchors of a page's headings."""
    out = set()
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_links_between_pages_resolve() -> None:
    broken = []
    for path, text in docs_text().items():
        for match in LINK.finditer(text):
            target = (path.parent / match.group("target")).resolve()
            if target.name in OTHERS and target.parent == DOCS and not target.exists():
                continue
            anchor = match.group("anchor")
            if not target.exists():
                broken.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
            elif anchor and anchor not in anchors(target.read_text()):
                broken.append(f"{path.relative_to(ROOT)}: {match.group(0)} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)
