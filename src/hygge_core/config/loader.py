"""Load a YAML file into plain data while remembering where every key and value stood.

Error messages must name file:line for any field, including fields inside plugin configs
that core knows nothing about, so locations are kept by path (`("flows", "users", "store",
"mode")`) rather than attached to objects.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from hygge_core.errors import ConfigError, Problem

Path = tuple[Any, ...]

# `$$`, `${var.NAME...}` (a flows.yaml variable: expanded once `vars:` is known, by
# hygge_core.config.variables) or `${ENV...}`, in one pass from left to right.
_VAR = re.compile(
    r"\$\$|\$\{var\.[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}"
    r"|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}"
)


@dataclass
class Document:
    """A loaded config file: its data, and the line/column of every value and key."""

    file: str
    data: Any
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    expanded: set[Path] = field(default_factory=set)
    has_vars: bool = False  # some value holds a `${var.NAME}`

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


def load_document(
    path: str, env: dict[str, str] | None = None, variables: dict[str, str] | None = None
) -> Document:
    """Parse `path`; raise `ConfigError` listing every YAML, `${VAR}` and `${var.NAME}`
    problem found. `variables` are the `--var NAME=VALUE` of the command line: they win
    over the file's `vars:`."""
    env = dict(os.environ) if env is None else env
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise ConfigError([Problem(f"file not found: {path}", hint="check the path")]) from None
    except OSError as exc:
        raise ConfigError([Problem(f"cannot read {path}: {exc.strerror}")]) from None
    text = _decode(path, raw)
    doc = Document(file=path, data=None)
    problems: list[Problem] = []
    try:
        doc.data = _Builder(doc, env, problems, text).document()
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
    except _AliasBudgetExceeded as exc:
        problems = [
            Problem(
                f"aliases expand to more than {ALIAS_BUDGET:,} values (this alias repeats "
                "an anchor that is large or holds other aliases)",
                file=path,
                line=exc.mark.line + 1,
                column=exc.mark.column + 1,
                hint="write the repeated settings once under defaults: or connections:, "
                "or use fewer aliases",
            )
        ]
    if not problems and (doc.has_vars or variables):
        from hygge_core.config.variables import expand_variables

        expand_variables(doc, variables or {}, problems)
    if problems:
        raise ConfigError(problems)
    return doc


# The C parser when PyYAML has it: parsing a 5 MB file with 35k flows in pure Python took
# most of the time `validate` spent on it.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Parse events that aliases (`*name`) may replay in all. A YAML "billion laughs" file nests
# aliases so that a few hundred bytes expand to billions of values; real files repeat an
# anchor a handful of times, so a small budget refuses the attack without hindering anyone.
ALIAS_BUDGET = 10_000

_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"


def _decode(path: str, raw: bytes) -> str:
    """The file's text; anything but UTF-8 is a located problem, never a traceback."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(raw) > 1 and b"\x00" in raw[:2]):
        raise ConfigError(
            [
                Problem(
                    "the file is UTF-16; flows.yaml must be UTF-8",
                    file=path,
                    line=1,
                    column=1,
                    hint=f"convert it: iconv -f UTF-16 -t UTF-8 {path} > utf8.yaml",
                )
            ]
        )
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise ConfigError(
            [
                Problem(
                    f"byte 0x{raw[exc.start]:02x} is not UTF-8; flows.yaml must be UTF-8",
                    file=path,
                    line=line,
                    column=column,
                    hint="save the file as UTF-8 (from Latin-1: "
                    f"iconv -f LATIN1 -t UTF-8 {path} > utf8.yaml)",
                )
            ]
        ) from None


def _mark(event: yaml.Event) -> Any:
    """Where an event starts (the C parser's marks are typed apart from PyYAML's)."""
    return event.start_mark


def _located(file: str, mark: Any, message: str, hint: str) -> Problem:
    """A problem at a parser mark (0-based line and column)."""
    return Problem(message, file=file, line=mark.line + 1, column=mark.column + 1, hint=hint)


class _AliasBudgetExceeded(Exception):
    def __init__(self, mark: Any) -> None:
        self.mark = mark


class _Builder:
    """Builds plain data straight from the parser's events, recording where each key and
    value stood and expanding `${VAR}`.

    No node tree is composed: for a file of 35k flows the tree alone took hundreds of MB.
    An anchored value's events are kept and replayed at each alias, within `ALIAS_BUDGET`.
    """

    def __init__(
        self, doc: Document, env: dict[str, str], problems: list[Problem], text: str
    ) -> None:
        self.doc = doc
        self.env = env
        self.problems = problems
        self.events: Iterator[yaml.Event] = iter(yaml.parse(text, Loader=_Loader))
        self.replay: list[Iterator[yaml.Event]] = []  # aliases being expanded, innermost last
        self.recording: list[list[yaml.Event]] = []  # anchored values being read
        self.anchors: dict[str, list[yaml.Event]] = {}
        self.replayed = 0
        self.outer: Any = None
        self.loader = yaml.SafeLoader("")  # resolves and constructs scalars

    def next(self) -> yaml.Event:
        while self.replay:
            event = next(self.replay[-1], None)
            if event is not None:
                return event
            self.replay.pop()
        event = next(self.events)
        for events in self.recording:
            events.append(event)
        return event

    def document(self) -> Any:
        """The data of the file's single document (None for an empty file)."""
        self.next()  # stream start
        event = self.next()
        if isinstance(event, yaml.StreamEndEvent):
            return None
        data = self.value(self.next(), ())
        self.next()  # document end
        event = self.next()
        if not isinstance(event, yaml.StreamEndEvent):
            raise yaml.composer.ComposerError(
                "expected a single document in the stream",
                None,
                "but found another document",
                _mark(event),
            )
        return data

    def value(self, event: yaml.Event, path: Path) -> Any:
        if isinstance(event, yaml.AliasEvent):
            events = self.anchors.get(event.anchor or "")
            if events is None:
                raise yaml.composer.ComposerError(
                    None, None, f"found undefined alias '{event.anchor}'", _mark(event)
                )
            if not self.replay:
                self.outer = _mark(event)  # the alias as written, to name in an error
            self.replayed += len(events)
            if self.replayed > ALIAS_BUDGET:
                raise _AliasBudgetExceeded(self.outer)
            self.replay.append(iter(events))
            return self.value(self.next(), path)
        anchor = getattr(event, "anchor", None) if not self.replay else None
        if anchor is not None:
            self.recording.append([])
        mark = _mark(event)
        self.doc.values[path] = (mark.line + 1, mark.column + 1)
        if isinstance(event, yaml.MappingStartEvent):
            built: Any = self._mapping(path)
        elif isinstance(event, yaml.SequenceStartEvent):
            built = []
            while not isinstance(item := self.next(), yaml.SequenceEndEvent):
                built.append(self.value(item, (*path, len(built))))
        else:
            built = self._scalar(event, path)
        if anchor is not None:
            self.anchors[anchor] = [event, *self.recording.pop()]
            # (an anchored value's own events: the first is this one, read before recording)
        return built

    def _mapping(self, path: Path) -> dict[Any, Any]:
        doc, problems = self.doc, self.problems
        out: dict[Any, Any] = {}
        merges: list[tuple[Any, Any]] = []
        while not isinstance(key_event := self.next(), yaml.MappingEndEvent):
            tag = self._tag(key_event) if isinstance(key_event, yaml.ScalarEvent) else None
            if tag == _MERGE:
                # `<<: *base` (or a list of them): keys written here win over merged ones.
                merges.append((_mark(key_event), self.value(self.next(), (*path, "<<"))))
                continue
            mark = _mark(key_event)
            key = self._key(key_event, tag, path)
            if key in out:
                problems.append(
                    _located(
                        doc.file,
                        mark,
                        f"key '{key}' appears twice in the same mapping",
                        hint="remove or rename one of them",
                    )
                )
            child = (*path, key)
            doc.keys[child] = (mark.line + 1, mark.column + 1)
            out[key] = self.value(self.next(), child)
        for mark, merged in merges:
            for extra in merged if isinstance(merged, list) else [merged]:
                if not isinstance(extra, dict):
                    problems.append(
                        _located(
                            doc.file,
                            mark,
                            "a merge key '<<' needs a mapping (or a list of mappings) to merge",
                            hint="write <<: *anchor where &anchor names a mapping",
                        )
                    )
                    continue
                for key, value in extra.items():
                    if key not in out:
                        out[key] = value
                        for table in (doc.values, doc.keys):
                            if (*path, "<<", key) in table:
                                table[(*path, key)] = table[(*path, "<<", key)]
        return out

    def _key(self, event: yaml.Event, tag: str | None, path: Path) -> str | int:
        if isinstance(event, yaml.ScalarEvent) and tag is not None and event.anchor is None:
            key = self._construct(event, tag)
        else:  # a complex or anchored key (legal YAML, never a valid flows.yaml key)
            key = self.value(event, (*path, "<key>"))
        return key if isinstance(key, str | int) else str(key)

    def _construct(self, event: yaml.ScalarEvent, tag: str) -> Any:
        if tag == _STR:
            return event.value  # most values: no need for PyYAML's constructor
        node = yaml.ScalarNode(tag, event.value, _mark(event), None, event.style)
        try:
            return self.loader.construct_object(node)
        finally:
            self.loader.constructed_objects.clear()

    def _tag(self, event: yaml.ScalarEvent) -> str:
        if event.tag is None or event.tag == "!":
            return str(self.loader.resolve(yaml.ScalarNode, event.value, event.implicit))
        return event.tag

    def _scalar(self, event: yaml.Event, path: Path) -> Any:
        doc, env, problems = self.doc, self.env, self.problems
        assert isinstance(event, yaml.ScalarEvent)
        tag = self._tag(event)
        try:
            value = self._construct(event, tag)
        except yaml.YAMLError as exc:
            mark = event.start_mark
            problems.append(
                _located(
                    doc.file,
                    mark,
                    f"invalid YAML: {getattr(exc, 'problem', None) or exc}",
                    hint="flows.yaml takes plain values: remove the tag (!...)",
                )
            )
            return None
        if isinstance(value, str) and "$" in value:
            if "${var." in value:
                doc.has_vars = True
            value = _expand(value, path, event, doc, env, problems)
            if tag == _STR and event.style is None:
                # An unquoted ${PORT} should become 5432, as if the number had been written.
                resolved = yaml.safe_load(value) if value else value
                if isinstance(resolved, int | float | bool):
                    value = resolved
        return value


def _expand(
    text: str,
    path: Path,
    node: yaml.Node | yaml.Event,
    doc: Document,
    env: dict[str, str],
    problems: list[Problem],
) -> str:
    has_vars = "${var." in text

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            # Where variables follow, their pass turns `$$` into `$` (so `$${var.x}` stays
            # a literal `${var.x}`).
            return "$$" if has_vars else "$"
        if match.group(0).startswith("${var."):
            return match.group(0)
        name, default = match.group(1), match.group(2)
        doc.expanded.add(path)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        problems.append(
            _located(
                doc.file,
                node.start_mark,
                f"environment variable {name} is not set",
                hint=f"export {name}=..., or give a default: ${{{name}:-value}}",
            )
        )
        return ""

    return _VAR.sub(replace, text)
