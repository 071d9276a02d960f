"""The errors hygge raises, sorted by what the user should do about them.

`ConfigError` means the user must edit a file (exit code 2). `PermanentError` means the run
cannot succeed by retrying (schema conflict, permission denied, missing table). `TransientError`
means retrying may help (connection reset, throttling); the runner retries those with backoff.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

# Faults of the disk or permissions: retrying cannot help, the user must act.
PERMANENT_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
}


class HyggeError(Exception):
    """Base class of every error hygge reports to users without a traceback."""


@dataclass
class Problem:
    """One problem in a config file, located as precisely as we can."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    flow: str | None = None
    side: str | None = None
    field: str | None = None
    hint: str | None = None

    def render(self) -> str:
        """One line (two with a hint): `file:line:col: flow 'x' → store → field 'y': message`."""
        where = ""
        if self.file:
            where = self.file
            if self.line:
                where += f":{self.line}"
                if self.column:
                    where += f":{self.column}"
            where += ": "
        path = []
        if self.flow:
            path.append(f"flow '{self.flow}'")
        if self.side:
            path.append(self.side)
        if self.field:
            path.append(f"field '{self.field}'")
        text = where + (" → ".join(path) + ": " if path else "") + self.message
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


@dataclass
class ConfigError(HyggeError):
    """One or more problems in the user's configuration; all of a file's problems at once."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.render())

    def render(self) -> str:
        """All problems, one per line, in file order."""
        ordered = sorted(self.problems, key=lambda p: (p.file or "", p.line or 0, p.column or 0))
        return "\n".join(p.render() for p in ordered)


class PluginError(HyggeError):
    """A plugin could not be loaded or registered something invalid."""


class PermanentError(HyggeError):
    """A fault that retrying will not fix: the user or the data must change first."""


class TransientError(HyggeError):
    """A fault that may go away by itself (a dropped connection, throttling, a 5xx)."""


class Cancelled(Exception):
    """Raised inside a reader when the consumer stopped (it failed or was cancelled)."""


class SchemaDriftError(PermanentError):
    """The home's schema is incompatible with what the store already holds."""


def first_line(text: object, limit: int | None = None) -> str:
    """The first line of `text` (an exception's message, a provider's reply), stripped and
    cut to `limit` characters: enough to recognise, never a dump. An exception without a
    message gives its type's name; empty text gives ""."""
    stripped = str(text).strip()
    if not stripped and isinstance(text, BaseException):
        return type(text).__name__
    line = stripped.splitlines()[0].rstrip() if stripped else ""
    if limit is not None and len(line) > limit:
        return line[: limit - 1] + "…"
    return line


def describe_error(exc: BaseException) -> str:
    """One line for the user: hygge's own errors as they are, a disk or permission fault
    with what to do, any other error as `Type: first line` (never a traceback)."""
    if isinstance(exc, HyggeError | Cancelled) and str(exc):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in PERMANENT_ERRNOS:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{PERMANENT_ERRNOS[exc.errno]}{where}: free space or fix permissions, then re-run"
    first = first_line(str(exc))
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
