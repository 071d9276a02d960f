"""hygge's own plugins live by the public API: they import only names the docs list.

The public API is `hygge_core` and the few submodules named in `PUBLIC` (each module's
`__all__`); docs/plugins/api.md lists every one of those names. A plugin under
`plugins/*/src` importing anything else fails here, naming the file, the line and the
name, so an internal module cannot quietly become a contract.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import re
import typing

import pytest

from hygge_core.executor import Executor

ROOT = pathlib.Path(__file__).resolve().parents[1]
API_PAGE = ROOT / "docs" / "plugins" / "api.md"
# The public modules. A new one is added here and on docs/plugins/api.md, together.
PUBLIC = (
    "hygge_core",
    "hygge_core.api",
    "hygge_core.changes",
    "hygge_core.executor",
    "hygge_core.faults",
    "hygge_core.files",
    "hygge_core.hive",
    "hygge_core.parquet_encodings",
    "hygge_core.testing",
)


def public_names(module: str) -> set[str]:
    return set(importlib.import_module(module).__all__)


def non_public_imports(src: pathlib.Path) -> list[str]:
    """`file:line: name` for every import of hygge_core under `src` that is not public."""
    found = []
    for path in sorted(src.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        where = path.relative_to(src.parent)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                module = node.module
                if module != "hygge_core" and not module.startswith("hygge_core."):
                    continue
                if module not in PUBLIC:
                    found.append(f"{where}:{node.lineno}: module {module}")
                    continue
                for alias in node.names:
                    if f"{module}.{alias.name}" in PUBLIC:  # a public submodule
                        continue
                    if alias.name not in public_names(module):
                        found.append(f"{where}:{node.lineno}: {module}.{alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("hygge_core.") and alias.name not in PUBLIC:
                        found.append(f"{where}:{node.lineno}: module {alias.name}")
    return found


@pytest.mark.parametrize("src", sorted(ROOT.glob("plugins/*/src")), ids=lambda p: p.parent.name)
def test_plugins_import_only_the_public_api(src: pathlib.Path) -> None:
    found = non_public_imports(src)
    assert not found, (
        "plugins use only hygge_core's public API (docs/plugins/api.md); these imports are "
        "internal — export what the plugin needs (documented, tested) or use a public name:\n"
        + "\n".join(found)
    )


def test_the_check_sees_an_internal_import(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "plugins" / "mine" / "src"
    (src / "mine").mkdir(parents=True)
    (src / "mine" / "home.py").write_text(
        "from hygge_core import Home, PermanentError\n"
        "from hygge_core.files import FileHome\n"
        "def f():\n"
        "    from hygge_core.pipeline import run_unit\n"
        "    from hygge_core.files import visible\n"
        "    import hygge_core.schema\n"
    )
    assert non_public_imports(src) == [
        "src/mine/home.py:4: module hygge_core.pipeline",
        "src/mine/home.py:5: hygge_core.files.visible",
        "src/mine/home.py:6: module hygge_core.schema",
    ]


@pytest.mark.parametrize("module", PUBLIC)
def test_every_public_name_exists_and_is_documented(module: str) -> None:
    page = API_PAGE.read_text()
    assert f"## `{module}`" in page, f"{API_PAGE.name} has no section for {module}"
    section = page.split(f"## `{module}`", 1)[1].split("\n## ", 1)[0]
    mod = importlib.import_module(module)
    for name in sorted(public_names(module)):
        getattr(mod, name)  # every exported name resolves
    # Listed as `name` or `name(args)`.
    missing = [n for n in sorted(public_names(module)) if not re.search(f"`{n}[`(]", section)]
    assert not missing, f"{API_PAGE.name}, section {module}, does not list: {missing}"


def test_the_executor_contract_speaks_only_public_types() -> None:
    """What the hooks doc tells executor authors to take and return is importable from
    `hygge_core.executor`."""
    hints = typing.get_type_hints(Executor.run_units)
    public = public_names("hygge_core.executor")
    assert hints["request"].__name__ in public
    assert typing.get_origin(hints["return"]) is list
    (item,) = typing.get_args(hints["return"])
    assert item.__name__ in public and item.__module__.startswith("hygge_core")
