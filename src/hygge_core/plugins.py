"""Finding plugins: a plugin manager per run, loaded from the `hygge` entry-point group.

Every type — the local executor and local storage included — is registered through the same
hooks, so hygge-core has no special path for its own features. `HYGGE_LOAD_PLUGINS` (a comma
list of distribution names; empty means none) limits which distributions load, the escape
hatch when a broken plugin stops start-up. `HYGGE_TRACE_PLUGINS=1` logs every hook call.
"""

from __future__ import annotations

import importlib
import logging
import os
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import pluggy

from hygge_core import builtin, hookspecs
from hygge_core.errors import PluginError

if TYPE_CHECKING:
    from hygge_core.executor import Executor
    from hygge_core.home import Home
    from hygge_core.storage import Storage
    from hygge_core.store import Store

log = logging.getLogger("hygge.plugins")

GROUP = "hygge"
CORE_DIST = "hygge-core"

# Types whose plugin ships from this repository: named in "install ..." hints only.
KNOWN_TYPES = {
    "parquet": "hygge-parquet",
    "sql": "hygge-sql",
    "csv": "hygge-csv",
    "jsonl": "hygge-csv",
    "dask": "hygge-dask",
}


T = TypeVar("T")


class TypeTable(dict[str, Any], Generic[T]):
    """Registered types by name; a value may be a `"module:Class"` string, imported on
    first use. `T` is what a lookup returns (`type[Home]`, `type[Store]`, ...).

    A plugin whose classes pull in heavy libraries (SQLAlchemy, drivers) registers them by
    path, so a run that never uses its types never pays for those imports.
    """

    def __getitem__(self, name: str) -> T:
        value = super().__getitem__(name)
        if isinstance(value, str):
            module, _, attr = value.partition(":")
            try:
                value = getattr(importlib.import_module(module), attr)
            except Exception as exc:
                raise PluginError(f"cannot import {value} (registered as '{name}'): {exc}") from exc
            super().__setitem__(name, value)
        return cast(T, value)

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default  # noqa: SIM401 - resolves lazily

    def values(self) -> list[T]:  # type: ignore[override]
        return [self[k] for k in self]

    def items(self) -> list[tuple[str, T]]:  # type: ignore[override]
        return [(k, self[k]) for k in self]


@dataclass
class PluginInfo:
    """One loaded distribution and what it registered."""

    dist: str
    version: str
    homes: list[str] = field(default_factory=list)
    stores: list[str] = field(default_factory=list)
    executors: list[str] = field(default_factory=list)
    storages: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)


@dataclass
class BrokenPlugin:
    """A distribution whose entry point failed to import or register."""

    dist: str
    version: str
    cause: str

    def render(self) -> str:
        """`plugin hygge-foo 1.0 failed to load: ModuleNotFoundError: ...`"""
        return f"plugin {self.dist} {self.version} failed to load: {self.cause}"


@dataclass
class Registry:
    """All types the loaded plugins registered, with the distribution behind each."""

    pm: pluggy.PluginManager
    homes: TypeTable[type[Home]] = field(default_factory=TypeTable)
    stores: TypeTable[type[Store]] = field(default_factory=TypeTable)
    executors: TypeTable[type[Executor]] = field(default_factory=TypeTable)
    storages: TypeTable[type[Storage]] = field(default_factory=TypeTable)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)

    def missing_type_hint(self, kind: str, name: str) -> str:
        """Why type `name` is unknown and what to do, for error messages."""
        hints = []
        dist = KNOWN_TYPES.get(name)
        if dist and dist not in self.plugins:
            hints.append(f"install it: pip install {dist}")
        for b in self.broken:
            hints.append(f"{b.dist} is installed but failed to load ({b.cause})")
        return "; ".join(hints)


def _selected(dist: str) -> bool:
    allow = os.environ.get("HYGGE_LOAD_PLUGINS")
    if allow is None:
        return True
    return dist in {d.strip() for d in allow.split(",") if d.strip()}


def _tracer(pm: pluggy.PluginManager) -> None:
    def before(hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        log.info("hook %s → %s", hook_name, [i.plugin_name for i in impls])

    def after(
        outcome: Any, hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> None:
        log.info("hook %s done", hook_name)

    pm.add_hookcall_monitoring(before, after)


def make_plugin_manager() -> tuple[pluggy.PluginManager, list[BrokenPlugin], dict[str, str]]:
    """A fresh manager with hygge-core's built-ins and every selected entry-point plugin.

    Entry points load in a deterministic order (distribution, then entry-point name). Returns
    the manager, the plugins that failed, and the version of each loaded distribution.
    """
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, name=CORE_DIST)
    versions = {CORE_DIST: _version(CORE_DIST)}
    broken: list[BrokenPlugin] = []
    eps = sorted(
        metadata.entry_points(group=GROUP),
        key=lambda ep: ((ep.dist.name if ep.dist else ""), ep.name),
    )
    for ep in eps:
        dist = ep.dist.name if ep.dist else ep.value
        version = ep.dist.version if ep.dist else "?"
        if dist == CORE_DIST or not _selected(dist):
            continue
        try:
            module = ep.load()
            pm.register(module, name=f"{dist}:{ep.name}")
        except Exception as exc:
            cause = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            broken.append(BrokenPlugin(dist, version, cause))
            continue
        versions[dist] = version
    if os.environ.get("HYGGE_TRACE_PLUGINS") == "1":
        _tracer(pm)
    return pm, broken, versions


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def load_registry() -> Registry:
    """Load plugins and collect every Home, Store, Executor and Storage they register.

    Each registration hook is called plugin by plugin so that every type is attributed to
    its distribution; a type name registered twice is an error naming both distributions.
    """
    pm, broken, versions = make_plugin_manager()
    reg = Registry(pm=pm, broken=broken)
    for plugin_name, plugin in pm.list_name_plugin():
        dist = plugin_name.split(":", 1)[0]
        info = reg.plugins.setdefault(dist, PluginInfo(dist, versions.get(dist, "?")))
        for hc in pm.get_hookcallers(plugin) or []:
            if hc.name not in info.hooks:
                info.hooks.append(hc.name)
    kinds = {
        "hygge_register_homes": ("home", reg.homes),
        "hygge_register_stores": ("store", reg.stores),
        "hygge_register_executors": ("executor", reg.executors),
    }
    for hook_name, (kind, table) in kinds.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            dist = impl.plugin_name.split(":", 1)[0]

            def register(name: str, cls: type, _d: str = dist, _k: str = kind, _t=table) -> None:
                _register(reg, _k, _t, name, cls, _d)

            _call_register(reg, impl, register, dist)
    for impl in pm.hook.hygge_register_storage.get_hookimpls():
        dist = impl.plugin_name.split(":", 1)[0]

        def register_storage(
            cls: type | str, protocols: tuple[str, ...] | None = None, _d: str = dist
        ) -> None:
            if isinstance(cls, str) and not protocols:
                raise PluginError(
                    f"{_d}: a storage registered by path ('{cls}') needs protocols=(...)"
                )
            for protocol in protocols or cast("type[Storage]", cls).protocols:
                _register(reg, "storage", reg.storages, protocol, cls, _d)

        _call_register(reg, impl, register_storage, dist)
    for (kind, name), dist in reg.owners.items():
        info = reg.plugins[dist]
        listing = {"home": info.homes, "store": info.stores, "executor": info.executors}
        listing.get(kind, info.storages).append(name)
    return reg


def _call_register(reg: Registry, impl: Any, register: Any, dist: str) -> None:
    try:
        impl.function(register=register)
    except PluginError:
        raise
    except Exception as exc:
        cause = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        info = reg.plugins.get(dist)
        reg.broken.append(BrokenPlugin(dist, info.version if info else "?", cause))


def _register(
    reg: Registry, kind: str, table: TypeTable[Any], name: str, cls: type | str, dist: str
) -> None:
    previous = reg.owners.get((kind, name))
    if previous is not None and previous != dist:
        raise PluginError(
            f"{kind} type '{name}' is registered by both {previous} and {dist}; "
            f"uninstall one, or limit plugins with HYGGE_LOAD_PLUGINS"
        )
    table[name] = cls
    reg.owners[(kind, name)] = dist
