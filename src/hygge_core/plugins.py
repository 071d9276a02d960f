"""Finding plugins: a plugin manager per run, loaded from the `hygge` entry-point group.

Every type — the local executor and local storage included — is registered through the same
hooks, so hygge-core has no special path for its own features. `HYGGE_LOAD_PLUGINS` (a comma
list of distribution names; empty means none) limits which distributions load, the escape
hatch when a broken plugin stops start-up. `HYGGE_TRACE_PLUGINS=1` logs every hook call.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
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
from hygge_core.known import for_type

if TYPE_CHECKING:
    from hygge_core.checks import Check
    from hygge_core.executor import Executor
    from hygge_core.home import Home
    from hygge_core.storage import Storage
    from hygge_core.store import Store
    from hygge_core.transforms import Transform

log = logging.getLogger("hygge.plugins")

GROUP = "hygge"
CORE_DIST = "hygge-core"


# The base class each kind of type must subclass: (module, class), imported on first check.
BASES = {
    "home": ("hygge_core.home", "Home"),
    "store": ("hygge_core.store", "Store"),
    "executor": ("hygge_core.executor", "Executor"),
    "storage": ("hygge_core.storage", "Storage"),
    "transform": ("hygge_core.transforms", "Transform"),
    "check": ("hygge_core.checks", "Check"),
}

DOCS_PAGE = {
    "home": "docs/plugins/home.md",
    "store": "docs/plugins/store.md",
    "executor": "docs/plugins/hooks.md#hygge_register_executors",
    "storage": "docs/plugins/hooks.md#hygge_register_storage",
    "transform": "docs/transforms.md#writing-a-transform",
    "check": "docs/checks.md#writing-a-check",
}


T = TypeVar("T")


class TypeTable(dict[str, Any], Generic[T]):
    """Registered types of one kind by name; a value may be a `"module:Class"` string,
    imported on first use. `T` is what a lookup returns (`type[Home]`, `type[Store]`, ...).

    A plugin whose classes pull in heavy libraries (SQLAlchemy, drivers) registers them by
    path, so a run that never uses its types never pays for those imports. On first use a
    class is also checked — importable, a subclass of the kind's base, no abstract method
    left — so a broken type fails when a flow is resolved (`hygge validate`, the start of
    `hygge run`) with a message naming its distribution, never as a traceback mid-run. A
    name two distributions registered is kept as a conflict and fails the same way.
    """

    def __init__(self, kind: str = "type") -> None:
        super().__init__()
        self.kind = kind
        self.owner: dict[str, str] = {}  # name → "distribution version"
        self.conflicts: dict[str, list[str]] = {}  # name → every "distribution version"
        self._checked: set[str] = set()

    def __getitem__(self, name: str) -> T:
        if name in self.conflicts:
            raise PluginError(conflict_message(self.kind, name, self.conflicts[name]))
        value = super().__getitem__(name)
        if name not in self._checked:
            if isinstance(value, str):
                value = self._import(name, value)
            self._check(name, value)
            super().__setitem__(name, value)
            self._checked.add(name)
        return cast(T, value)

    def _who(self, name: str, what: object) -> str:
        shown = what if isinstance(what, str) else f"{what.__module__}:{type_name(what)}"
        return (
            f"plugin {self.owner.get(name, '?')} registers {self.kind} type '{name}' as '{shown}'"
        )

    def _import(self, name: str, path: str) -> type:
        module_name, _, attr = path.partition(":")
        dist = self.owner.get(name, "?").split(" ")[0]
        hook = (
            f"hygge_register_{self.kind}s" if self.kind != "storage" else "hygge_register_storage"
        )
        fix = (
            f'fix the "module:Class" string in the {hook} hook of {dist}, or reinstall or '
            f"upgrade {dist}; to run without it, leave {dist} out of HYGGE_LOAD_PLUGINS"
        )
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            cause = _one_line(exc)
            raise PluginError(
                f"{self._who(name, path)}, which cannot be imported ({cause}); {fix}"
            ) from None
        if not attr or not hasattr(module, attr):
            close = difflib.get_close_matches(
                attr, [n for n in dir(module) if not n.startswith("_")], n=1
            )
            guess = f" (did you mean '{module_name}:{close[0]}'?)" if close else ""
            raise PluginError(
                f"{self._who(name, path)}, but module {module_name} has no "
                f"{'class ' + repr(attr) if attr else 'class named after the colon'}{guess}; {fix}"
            )
        return cast(type, getattr(module, attr))

    def _check(self, name: str, cls: object) -> None:
        if self.kind not in BASES:
            return
        module, base_name = BASES[self.kind]
        base = getattr(importlib.import_module(module), base_name)
        dist = self.owner.get(name, "?").split(" ")[0]
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(
                f"{self._who(name, cls)}, which is not a subclass of hygge_core.{base_name}; "
                f"make it one in {dist} (see {DOCS_PAGE[self.kind]}), or uninstall {dist}"
            )
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
            raise PluginError(
                f"{self._who(name, cls)}, which does not implement the abstract methods "
                f"{missing} of hygge_core.{base_name}; implement them in {dist} (see "
                f"{DOCS_PAGE[self.kind]}), or uninstall {dist}"
            )

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
    transforms: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
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
    homes: TypeTable[type[Home]] = field(default_factory=lambda: TypeTable("home"))
    stores: TypeTable[type[Store]] = field(default_factory=lambda: TypeTable("store"))
    executors: TypeTable[type[Executor]] = field(default_factory=lambda: TypeTable("executor"))
    storages: TypeTable[type[Storage]] = field(default_factory=lambda: TypeTable("storage"))
    transforms: TypeTable[type[Transform]] = field(default_factory=lambda: TypeTable("transform"))
    checks: TypeTable[type[Check]] = field(default_factory=lambda: TypeTable("check"))
    owners: dict[tuple[str, str], str] = field(default_factory=dict)
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)
    # Top-level flows.yaml sections plugins registered: name → (pydantic model, distribution).
    settings: dict[str, tuple[type, str]] = field(default_factory=dict)

    def conflicts(self) -> list[tuple[str, str, list[str]]]:
        """(kind, type name, ["distribution version", ...]) of every type registered by more
        than one distribution; such a type is unusable until one of them goes."""
        return [
            (table.kind, name, dists)
            for table in (
                self.homes,
                self.stores,
                self.executors,
                self.storages,
                self.transforms,
                self.checks,
            )
            for name, dists in sorted(table.conflicts.items())
        ]

    def missing_type_hint(self, kind: str, name: str) -> str:
        """Why type `name` is unknown and what to do, for error messages."""
        hints = []
        known = for_type(name)
        if known and known.name not in self.plugins:
            hints.append(f"install it: {known.hint}")
        for b in self.broken:
            hints.append(f"{b.dist} is installed but failed to load ({b.cause})")
        return "; ".join(hints)

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call lifecycle hook `hook` on every plugin that implements it, each on its own.

        Observers must never break a flow nor silence each other: an exception in one
        implementation is logged as a warning naming its plugin, and the others still run
        (a plain pluggy call would stop at the first exception).
        """
        impls = getattr(self.pm.hook, hook).get_hookimpls()
        tracing = os.environ.get("HYGGE_TRACE_PLUGINS") == "1"
        if tracing:
            log.info("hook %s → %s", hook, [i.plugin_name for i in impls])
        # pluggy's own order: the last registered (or `tryfirst`) implementation first.
        for impl in reversed(impls):
            if impl.hookwrapper or impl.wrapper:
                continue  # a wrapper would wrap the other observers, which stay isolated
            try:
                impl.function(*[kwargs[name] for name in impl.argnames])
            except Exception as exc:
                log.warning("the %s hook of %s failed: %s", hook, impl.plugin_name, exc)
        if tracing:
            log.info("hook %s done", hook)


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
        "hygge_register_transforms": ("transform", reg.transforms),
        "hygge_register_checks": ("check", reg.checks),
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
    for impl in pm.hook.hygge_register_settings.get_hookimpls():
        dist = impl.plugin_name.split(":", 1)[0]

        def register_settings(section: str, model: type, _d: str = dist) -> None:
            _register_section(reg, section, model, _d)

        _call_register(reg, impl, register_settings, dist)
    claims = [(kind, name, dist) for (kind, name), dist in reg.owners.items()]
    # Every distribution of a conflict lists the type, so `hygge plugins` shows both sides.
    claims += [(k, n, d.split(" ")[0]) for k, n, dists in reg.conflicts() for d in dists[1:]]
    for kind, name, dist in claims:
        info = reg.plugins[dist]
        listing = {
            "home": info.homes,
            "store": info.stores,
            "executor": info.executors,
            "transform": info.transforms,
            "check": info.checks,
        }
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


def _register_section(reg: Registry, section: str, model: type, dist: str) -> None:
    """A plugin's top-level section; one already owned (by core or a plugin) is refused."""
    from hygge_core.config.models import FileSpec  # (pydantic models: not at import time)

    owner = "hygge-core" if section in FileSpec.model_fields else None
    if section in reg.settings and reg.settings[section][1] != dist:
        owner = reg.settings[section][1]
    if owner is not None:
        raise ValueError(f"the flows.yaml section '{section}' already belongs to {owner}")
    reg.settings[section] = (model, dist)


def _register(
    reg: Registry, kind: str, table: TypeTable[Any], name: str, cls: type | str, dist: str
) -> None:
    info = reg.plugins.get(dist)
    who = f"{dist} {info.version if info else '?'}"
    previous = reg.owners.get((kind, name))
    if previous is not None and previous != dist:
        # Kept as a conflict, not raised: every other type, and `hygge plugins`, still work.
        first = table.owner[name]
        table.conflicts.setdefault(name, [first])
        if who not in table.conflicts[name]:
            table.conflicts[name].append(who)
        return
    table[name] = cls
    table.owner[name] = who
    reg.owners[(kind, name)] = dist


def type_name(obj: object) -> str:
    """A class's qualified name (`Outer.Inner`), else the repr of what was registered."""
    return getattr(obj, "__qualname__", repr(obj))


def conflict_message(kind: str, name: str, dists: list[str]) -> str:
    """One paragraph: which distributions claim the type, and how to choose."""
    names = [d.split(" ")[0] for d in dists]
    keep = ",".join(n for n in names[1:] if n != CORE_DIST) or names[-1]
    return (
        f"{kind} type '{name}' is registered by both {' and '.join(dists)}; hygge will not "
        f"guess which one to use: uninstall one of them, or choose with HYGGE_LOAD_PLUGINS "
        f"(a comma list of the distributions to load, e.g. HYGGE_LOAD_PLUGINS={keep} plus "
        f"the others your flows need)"
    )


def _one_line(exc: BaseException) -> str:
    """`ModuleNotFoundError: No module named 'x'`, the first line only."""
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
    return text[0] if text else type(exc).__name__


def misplaced_entry_points() -> list[str]:
    """Messages for distributions that declare entry points in a group close to `hygge`
    (`hyge`, `hygge.plugins`, `hygge_plugins`...): hygge never reads those, so the plugin
    is silently absent. Scans every entry point, so only `hygge plugins` asks."""
    found = []
    for dist in metadata.distributions():
        for ep in dist.entry_points:
            group = ep.group.lower()
            near = group.startswith(GROUP) or (
                difflib.SequenceMatcher(None, group, GROUP).ratio() >= 0.8
            )
            if ep.group == GROUP or not near:
                continue
            text = (
                f"distribution {dist.name} {dist.version} declares entry point "
                f"'{ep.name} = {ep.value}' in group '{ep.group}', which hygge does not read: "
                f"hygge loads plugins only from the group '{GROUP}' "
                f"([project.entry-points.{GROUP}] in pyproject.toml); rename the group and "
                f"reinstall {dist.name}"
            )
            if text not in found:
                found.append(text)
    return found
