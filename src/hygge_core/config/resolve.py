"""Turn a loaded flows.yaml into validated flows: types picked, defaults merged, every
plugin config checked by its own model, every problem located and reported at once."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ValidationError

from hygge_core.config.entities import expand_entities, select
from hygge_core.config.loader import Document, Path
from hygge_core.config.models import Defaults, ExecutorSpec, FileSpec, FlowSpec, parse_bytes
from hygge_core.config.steps import compile_steps
from hygge_core.errors import ConfigError, PluginError, Problem
from hygge_core.flownames import flow_name_problem
from hygge_core.home import HomeConfig
from hygge_core.known import for_path, for_protocol, for_section
from hygge_core.paths import folder_of
from hygge_core.plugins import Registry
from hygge_core.storage import ConnectionConfig, split_protocol
from hygge_core.store import StoreConfig

if TYPE_CHECKING:
    from hygge_core.home import Home
    from hygge_core.shaping import Shaping
    from hygge_core.store import Store

SIDES = ("home", "store")


@dataclass
class ResolvedFlow:
    """A flow ready to run: plugin classes and their validated configs."""

    name: str
    home_cls: type
    home_config: HomeConfig
    store_cls: type
    store_config: StoreConfig
    spec: FlowSpec
    shaping: Shaping | None = None  # the flow's transform: and checks:, compiled

    @property
    def budget(self) -> int | None:
        """Bytes the flow may hold (its `memory:`); None: as much as the run's budget."""
        return None if self.spec.memory is None else parse_bytes(self.spec.memory)


@dataclass
class Plan:
    """Everything `hygge run` needs from a config file."""

    file: str
    flows: dict[str, ResolvedFlow]
    connections: dict[str, dict[str, Any]]
    executor: ExecutorSpec
    doc: Document | None = None
    memory: int | None = None  # `memory:` at the top of the file: the run-wide budget
    warnings: list[str] = field(default_factory=list)
    settings: dict[str, BaseModel] = field(default_factory=dict)


def _close(word: str, options: list[str]) -> str | None:
    matches = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    return matches[0] if matches else None


class _Collector:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def add(
        self,
        path: Path,
        message: str,
        *,
        key: bool = False,
        hint: str | None = None,
        flow: str | None = None,
        side: str | None = None,
        fld: str | None = None,
    ) -> None:
        line, col = self.doc.where(path, key=key)
        self.problems.append(
            Problem(
                message,
                file=self.doc.file,
                line=line,
                column=col,
                flow=flow,
                side=side,
                field=fld,
                hint=hint,
            )
        )

    def pydantic(
        self,
        exc: ValidationError,
        model: type[BaseModel],
        base: Path,
        flow: str | None,
        side: str | None,
        origins: dict[str, Path] | None = None,
    ) -> None:
        """Report each pydantic error at its own line, with a close match where one exists."""
        for err in exc.errors():
            loc = tuple(err["loc"])
            fld = ".".join(str(p) for p in loc) if loc else None
            first = loc[0] if loc else None
            prefix = (origins or {}).get(str(first), base) if first is not None else base
            path = (*prefix, *loc)
            kind = err["type"]
            hint = None
            if kind == "extra_forbidden":
                sub = _submodel(model, loc[:-1])
                fields = sorted(sub.model_fields) if sub else []
                guess = _close(str(loc[-1]), fields)
                hint = (
                    f"did you mean '{guess}'?"
                    if guess
                    else (f"valid fields: {', '.join(fields)}" if fields else None)
                )
                self.add(
                    path,
                    f"unknown field '{loc[-1]}'",
                    key=True,
                    hint=hint,
                    flow=flow,
                    side=side,
                    fld=fld,
                )
                continue
            if kind == "missing":
                self.add(
                    path[:-1],
                    f"required field '{loc[-1]}' is missing",
                    flow=flow,
                    side=side,
                    fld=fld,
                    key=True,
                )
                continue
            message = err["msg"]
            if kind == "value_error":
                # A validator's own message: pydantic prefixes it with its error kind.
                message = message.removeprefix("Value error, ")
            if kind == "literal_error":
                expected = re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", ""))
                value = err.get("input")
                guess = _close(str(value), expected) if expected else None
                shown = "" if self.doc.is_secret_path(path) else f" '{_clip(value)}'"
                message = f"invalid value{shown}: must be one of {', '.join(expected)}"
                hint = f"did you mean '{guess}'?" if guess else None
            elif (
                kind != "value_error"  # a validator's message says what it needs to
                and not self.doc.is_secret_path(path)
                and "input" in err
                and _short(err["input"])
            ):
                message = f"{message} (got {err['input']!r})"
            self.add(path, message, hint=hint, flow=flow, side=side, fld=fld)


def _clip(value: Any, limit: int = 60) -> str:
    """`value` as a message quotes it: a long one cut, with its length."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _short(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and len(str(value)) <= 60


def _submodel(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        info = current.model_fields.get(str(part))
        if info is None:
            return None
        current = info.annotation
        args = getattr(current, "__args__", ())
        for arg in args:
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                current = arg
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def resolve_file(
    doc: Document,
    registry: Registry,
    *,
    only: list[str] | None = None,
    mode: str | None = None,
    mode_from: str = "--mode",
) -> Plan:
    """Validate the whole document against core's and the plugins' models.

    `only` selects flows by name, template name or glob (`shop.*`); `mode` overrides every
    store's write mode for this run (`mode_from` names the option that asked, for errors).
    Raises `ConfigError` with every problem found, each naming file:line, flow, side, field.
    """
    c = _Collector(doc)
    data = doc.data
    if data is None:
        raise ConfigError(
            [
                Problem(
                    "the file is empty; it needs a 'flows:' mapping",
                    file=doc.file,
                    line=1,
                    hint="see docs/flows-yaml.md",
                )
            ]
        )
    if not isinstance(data, dict):
        c.add((), "the top level must be a mapping with a 'flows:' key")
        raise ConfigError(c.problems)
    settings = _plugin_sections(c, registry, data)
    _rebase_connections(registry, data, folder_of(doc.file))
    templates = expand_entities(doc, registry, c.problems)
    try:
        spec = FileSpec.model_validate(
            {k: v for k, v in data.items() if k != "flows" and k in FileSpec.model_fields}
            | {"flows": data.get("flows") or {}}
        )
    except ValidationError as exc:
        c.pydantic(exc, FileSpec, (), None, None)
        spec = None
    if "flows" not in data:
        c.add((), "missing 'flows:'", hint="add flows: {name: {home: ..., store: ...}}")
    elif not isinstance(data["flows"], dict) or not (data["flows"] or templates):
        c.add(("flows",), "'flows:' must map flow names to {home, store}")
    connections = spec.connections if spec else {}
    if spec is not None:
        _check_connections(c, registry, spec.connections)
    defaults = spec.defaults if spec else Defaults()
    flows: dict[str, ResolvedFlow] = {}
    flow_items: dict[str, Any] = data["flows"] if isinstance(data.get("flows"), dict) else {}
    if only:
        names = [str(n) for n in flow_items]
        only, missing = select(names, templates, only)
        for name in missing:
            guess = _close(name, [*names, *templates])
            c.problems.append(
                Problem(
                    f"no flow named or matching '{name}' in {doc.file}",
                    hint=f"did you mean '{guess}'?"
                    if guess
                    else f"flows: {', '.join(names) or 'none'}",
                )
            )
    used_defaults: dict[str, set[str]] = {"home": set(), "store": set()}
    for name, raw in flow_items.items():
        bad_name = flow_name_problem(name)
        if bad_name:
            c.add(("flows", name), bad_name, key=True, hint="rename the flow")
            continue
        chosen = not only or name in only
        resolved = _resolve_flow(
            c, registry, connections, str(name), raw, defaults, used_defaults,
            (mode if chosen else None, mode_from),
        )  # fmt: skip
        if resolved is not None and chosen:
            flows[str(name)] = resolved
    for side in SIDES:
        for key in getattr(defaults, side):
            if key not in used_defaults[side] and key != "type" and flow_items:
                c.add(
                    ("defaults", side, key),
                    f"no {side} of any flow has a field '{key}'",
                    key=True,
                    side=f"defaults → {side}",
                    fld=key,
                )
    if c.problems:
        raise ConfigError(c.problems)
    assert spec is not None
    if spec.executor.type not in registry.executors:
        known = sorted(registry.executors)
        guess = _close(spec.executor.type, known)
        hint = registry.missing_type_hint("executor", spec.executor.type) or (
            f"did you mean '{guess}'?" if guess else f"installed: {', '.join(known)}"
        )
        c.add(("executor", "type"), f"unknown executor '{spec.executor.type}'", hint=hint)
        raise ConfigError(c.problems)
    try:
        registry.executors[spec.executor.type]
    except PluginError as exc:
        c.add(("executor", "type"), str(exc))
        raise ConfigError(c.problems) from None
    return Plan(
        file=doc.file,
        flows=flows,
        connections=spec.connections,
        executor=spec.executor,
        doc=doc,
        memory=None if spec.memory is None else parse_bytes(spec.memory),
        settings=settings,
    )


def _plugin_sections(c: _Collector, registry: Registry, data: dict[Any, Any]) -> dict[str, Any]:
    """Validate the top-level sections plugins registered, each by its own model.

    A top-level key that neither core nor a plugin owns is reported here, with a close
    match among both (or the distribution to install), and left out of core's validation.
    """
    settings: dict[str, Any] = {}
    for key in list(data):
        if key in FileSpec.model_fields:
            continue
        if key in registry.settings:
            model = cast("type[BaseModel]", registry.settings[key][0])
            raw = data[key] or {}
            relative_to = getattr(model, "relative_to", None)
            if relative_to is not None and isinstance(raw, dict):
                raw = relative_to(raw, folder_of(c.doc.file))
            try:
                settings[key] = model.model_validate(raw)
            except ValidationError as exc:
                c.pydantic(exc, model, (key,), None, f"section '{key}'")
            continue
        first_party = for_section(str(key))
        known = sorted([*FileSpec.model_fields, *registry.settings])
        guess = _close(str(key), known)
        hint = (
            f"the '{key}:' section needs a plugin: {first_party.hint}"
            if first_party and first_party.name not in registry.plugins
            else (f"did you mean '{guess}'?" if guess else f"valid sections: {', '.join(known)}")
        )
        c.add((key,), f"unknown field '{key}'", key=True, hint=hint, fld=str(key))
    return settings


def _rebase_connections(registry: Registry, data: dict[Any, Any], folder: str) -> None:
    """Resolve the relative paths of `connections:` entries (a SQLite file's URL) against
    the file's folder, each by the model of its type; in place, before validation."""
    connections = data.get("connections")
    if not folder or not isinstance(connections, dict):
        return
    storages = {s.name: s for s in registry.storages.values()} if connections else {}
    for name, raw in connections.items():
        if isinstance(raw, dict) and isinstance(raw.get("type"), str):
            model = _connection_model(registry, storages, raw["type"])
            relative_to = getattr(model, "relative_to", None)
            if relative_to is not None:
                connections[name] = relative_to(raw, folder)


def _check_connections(
    c: _Collector, registry: Registry, connections: dict[str, dict[str, Any]]
) -> None:
    """Validate every connection by the model of its type, so its errors have lines.

    A type is a storage's (s3, azure, ...) or a home/store type's that declares a
    `connection_model` (sql). A type nobody owns is an error: `run` would meet it later.
    """
    if not connections:
        return  # (resolving every storage class would import every storage plugin)
    storages = {s.name: s for s in registry.storages.values()}
    for name, raw in connections.items():
        base: Path = ("connections", name)
        side = f"connection '{name}'"
        if not isinstance(raw, dict):
            c.add(base, "a connection must be a mapping with a 'type:'", side=side)
            continue
        type_name = raw.get("type")
        if type_name is None:
            c.add(base, "missing 'type'", key=True, side=side, fld="type")
            continue
        model = _connection_model(registry, storages, str(type_name))
        if model is None:
            known = sorted(set(storages) | {t for t in (*registry.homes, *registry.stores)})
            guess = _close(str(type_name), known)
            hint = registry.missing_type_hint("connection", str(type_name)) or (
                f"did you mean '{guess}'?" if guess else f"known types: {', '.join(known)}"
            )
            c.add(
                (*base, "type"),
                f"unknown connection type '{type_name}'",
                side=side,
                fld="type",
                hint=hint,
            )
            continue
        if model is ConnectionConfig:
            continue  # a type without settings of its own: nothing to check
        try:
            model.model_validate(raw)
        except ValidationError as exc:
            c.pydantic(exc, model, base, None, side)


def _connection_model(
    registry: Registry, storages: dict[str, Any], type_name: str
) -> type[BaseModel] | None:
    """The model that checks connections of `type_name`; None when no plugin owns it."""
    if type_name in storages:
        return cast("type[BaseModel]", storages[type_name].connection_model)
    tables = [t for t in (registry.homes, registry.stores) if type_name in t]
    for table in tables:
        try:
            model = getattr(table.get(type_name), "connection_model", None)
        except PluginError:  # a broken type: the flows that use it report it
            continue
        if model is not None:
            return cast("type[BaseModel]", model)
    return ConnectionConfig if tables else None


def _check_references(
    c: _Collector,
    registry: Registry,
    connections: dict[str, Any],
    flow: str,
    side: str,
    config: BaseModel,
    origins: dict[str, Path],
) -> bool:
    """What a side's config names outside itself: a connection that exists, a path whose
    protocol a storage plugin serves. False (and problems added) when something is missing.
    """
    ok = True
    path: Path = ("flows", flow, side)
    name = getattr(config, "connection", None)
    if isinstance(name, str) and name not in connections:
        known = sorted(connections)
        guess = _close(name, known)
        c.add(
            (*origins.get("connection", path), "connection"),
            f"connection '{name}' is not defined under connections:",
            flow=flow,
            side=side,
            fld="connection",
            hint=f"did you mean '{guess}'?"
            if guess
            else (f"defined: {', '.join(known)}" if known else "add it under connections:"),
        )
        ok = False
    url = getattr(config, "path", None)
    if isinstance(url, str) and "://" in url:
        protocol = split_protocol(url)[0]
        if protocol not in registry.storages:
            first_party = for_protocol(protocol)
            c.add(
                (*origins.get("path", path), "path"),
                f"no storage plugin serves '{protocol}://' paths",
                flow=flow,
                side=side,
                fld="path",
                hint=f"install it: {first_party.hint}"
                if first_party
                else f"installed: {', '.join(sorted(registry.storages))}",
            )
            ok = False
    return ok


def _resolve_flow(
    c: _Collector,
    registry: Registry,
    connections: dict[str, Any],
    name: str,
    raw: Any,
    defaults: Defaults,
    used: dict[str, set[str]],
    mode: tuple[str | None, str] = (None, "--mode"),
) -> ResolvedFlow | None:
    base: Path = ("flows", name)
    if not isinstance(raw, dict):
        c.add(base, "a flow must be a mapping with 'home:' and 'store:'", flow=name)
        return None
    ok = True
    for side in SIDES:
        if side not in raw or raw[side] in (None, ""):
            c.add(
                base,
                f"missing '{side}:'",
                key=True,
                flow=name,
                side=side,
                hint=f"add {side}: <path or mapping>",
            )
            ok = False
    options = {k: v for k, v in raw.items() if k not in SIDES}
    for key in ("schema_drift", "parallelism", "memory", "retry", "timeout"):
        default = getattr(defaults, key)
        if key not in options and default is not None:
            options[key] = default
    shaping = None
    try:
        spec = FlowSpec.model_validate({"home": {}, "store": {}, **options})
    except ValidationError as exc:
        c.pydantic(exc, FlowSpec, base, name, None)
        ok = False
    else:
        steps_ok, shaping = compile_steps(c, registry, name, spec.transform, spec.checks)
        ok = ok and steps_ok
    parts: dict[str, tuple[type, BaseModel]] = {}
    for side in SIDES:
        if raw.get(side) in (None, ""):
            continue  # reported above
        # Resolved even when the flow's own options failed: every problem, at once.
        got = _resolve_side(
            c, registry, connections, name, side, raw[side], getattr(defaults, side), used,
            mode[0] if side == "store" else None, mode[1],
        )  # fmt: skip
        if got is None:
            ok = False
        else:
            parts[side] = got
    if not ok:
        return None
    home_cls, home_config = cast("tuple[type[Home], HomeConfig]", parts["home"])
    store_cls, store_config = cast("tuple[type[Store], StoreConfig]", parts["store"])
    if store_config.mode not in store_cls.modes:
        modes = sorted(store_cls.modes)
        asked = f" (asked by {mode[1]})" if mode[0] else ""
        c.add(
            (*base, "store", "mode"),
            f"store type '{store_config.type}' does not support mode '{store_config.mode}'" + asked,
            flow=name,
            side="store",
            fld="mode",
            hint=f"supported: {', '.join(modes)}"
            + (f"; leave this flow out of the run (--flow) or drop {mode[1]}" if asked else ""),
        )
        return None
    if home_config.incremental is not None and not home_cls.supports_incremental:
        c.add(
            (*base, "home", "incremental"),
            f"home type '{home_config.type}' cannot read incrementally",
            flow=name,
            side="home",
            fld="incremental",
        )
        return None
    inc = home_config.incremental
    if inc is not None and inc.lookback is not None and store_config.mode == "append":
        c.add(
            (*base, "home", "incremental", "lookback"),
            "a lookback re-reads rows already loaded, which append would duplicate",
            flow=name,
            side="home",
            fld="incremental.lookback",
            hint="use store mode: merge with keys: [...], or drop the lookback",
        )
        return None
    overlap = None if spec.allow_overlap else _overlap(home_config, store_config)
    if overlap:
        c.add(
            (*base, "store"),
            overlap,
            flow=name,
            side="store",
            fld="path",
            hint="write the store somewhere else, or set allow_overlap: true on the flow "
            "if the home skips what the store writes",
        )
        return None
    return ResolvedFlow(name, home_cls, home_config, store_cls, store_config, spec, shaping)


def _overlap(home: BaseModel, store: BaseModel) -> str | None:
    """Why a flow's store would write where its home reads, or None.

    Every run would read back what earlier runs stored (doubling it), or a `replace` would
    delete the home's own files.
    """
    h, s = getattr(home, "path", None), getattr(store, "path", None)
    if not isinstance(h, str) or not isinstance(s, str):
        return None
    from hygge_core.storage import split_protocol  # fsspec: only for flows with paths

    (hp, hroot), (sp, sroot) = split_protocol(h), split_protocol(s)
    same_account = getattr(home, "connection", None) == getattr(store, "connection", None)
    if hp != sp or (hp != "file" and not same_account):
        return None
    if any(ch in hroot for ch in "*?["):  # a glob reads from the folder it starts in
        hroot = re.split(r"[*?\[]", hroot, maxsplit=1)[0].rsplit("/", 1)[0]
    hroot, sroot = hroot.rstrip("/"), sroot.rstrip("/")
    if hroot == sroot:
        return f"the store path {s} is the home's path"
    if sroot.startswith(hroot + "/"):
        return f"the store path {s} is inside the home's folder {h}"
    if hroot.startswith(sroot + "/"):
        return f"the home {h} is inside the store's folder {s}"
    return None


def _resolve_side(
    c: _Collector,
    registry: Registry,
    connections: dict[str, Any],
    flow: str,
    side: str,
    raw: Any,
    defaults: dict[str, Any],
    used: dict[str, set[str]],
    mode: str | None = None,
    mode_from: str = "--mode",
) -> tuple[type, BaseModel] | None:
    path: Path = ("flows", flow, side)
    table = registry.homes if side == "home" else registry.stores
    origins: dict[str, Path] = {}
    if isinstance(raw, str):
        type_name = registry.pm.hook.hygge_type_for_path(path=raw, side=side)
        if type_name is None:
            hint = _path_hint(raw, registry)
            c.add(
                path,
                f"no installed plugin handles the path '{raw}'",
                flow=flow,
                side=side,
                hint=hint,
            )
            return None
        raw = {"type": type_name, "path": raw}
    elif not isinstance(raw, dict):
        c.add(path, f"'{side}:' must be a path or a mapping", flow=flow, side=side)
        return None
    type_name = raw.get("type")
    if type_name is None:
        c.add(
            path,
            "missing 'type'",
            flow=flow,
            side=side,
            fld="type",
            key=True,
            hint=f"add type: one of {', '.join(sorted(table)) or '(none installed)'}",
        )
        return None
    try:
        cls = table.get(type_name)
    except PluginError as exc:  # installed, but its class is broken or claimed twice
        c.add((*path, "type"), str(exc), flow=flow, side=side, fld="type")
        return None
    if cls is None:
        known = sorted(table)
        guess = _close(str(type_name), known)
        hint = registry.missing_type_hint(side, str(type_name))
        if not hint:
            hint = (
                f"did you mean '{guess}'?"
                if guess
                else (f"installed {side} types: {', '.join(known) or 'none'}")
            )
        c.add(
            (*path, "type"),
            f"unknown {side} type '{type_name}'",
            flow=flow,
            side=side,
            fld="type",
            hint=hint,
        )
        return None
    model: type[BaseModel] = cls.config_model
    merged = dict(raw)
    for key, value in defaults.items():
        if key in model.model_fields:
            used[side].add(key)
            if key not in merged:
                merged[key] = value
                origins[key] = ("defaults", side)
    relative_to = getattr(model, "relative_to", None)
    if relative_to is not None:
        merged = relative_to(merged, folder_of(c.doc.file))
    if mode is not None:
        if mode not in getattr(cls, "modes", ()):
            modes = ", ".join(sorted(getattr(cls, "modes", ())))
            c.add(
                path,
                f"store type '{type_name}' does not support mode '{mode}' (asked by {mode_from})",
                flow=flow,
                side=side,
                fld="mode",
                hint=f"supported: {modes}; leave this flow out of the run (--flow) or drop "
                f"{mode_from}",
            )
            return None
        merged["mode"] = mode  # --mode / --full-refresh: this run only
        if mode != "merge":
            merged.pop("keys", None)
    try:
        config = model.model_validate(merged)
    except ValidationError as exc:
        c.pydantic(exc, model, path, flow, side, origins)
        return None
    if not _check_references(c, registry, connections, flow, side, config, origins):
        return None
    return cls, config


def _path_hint(path: str, registry: Registry) -> str:
    known = for_path(path)
    if known and known.name not in registry.plugins:
        return f"install it: {known.hint}"
    if path.endswith("/") and "hygge-parquet" not in registry.plugins:
        return "directories are Parquet stores by default: pip install hygge-parquet"
    return "write a mapping with an explicit type: {type: ..., path: ...}"
