"""The pydantic models of flows.yaml's own keys. Home and store mappings are validated
later by the model of the plugin type they name."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

# Every config model here and in hygge_core's home, store and storage bases (so every plugin
# model that subclasses them) sets `defer_build=True`: pydantic builds a validator when the
# model is first used, so the models of installed plugins a run never touches cost nothing
# at start-up.


def _duration(value: str | int | float) -> str | int | float:
    parse_seconds(value)  # validate now: `run` must never meet a duration `validate` passed
    return value


# A duration as written (`30s`, `10 minutes`, seconds), checked when the file is read.
Duration = Annotated[str | int | float, AfterValidator(_duration)]


class RetryConfig(BaseModel):
    """How a flow retries transient faults: exponential backoff with jitter."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    attempts: int = Field(default=3, ge=1, description="tries in all, the first included")
    initial: float = Field(default=1.0, gt=0, description="seconds before the first retry")
    maximum: float = Field(default=30.0, gt=0, description="longest wait between tries, seconds")


class FlowSpec(BaseModel):
    """One entry under `flows:`."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    home: dict[str, Any] | str = Field(description="where the data lives: a path or a mapping")
    store: dict[str, Any] | str = Field(description="where it should settle")
    schema_drift: Literal["strict", "evolve"] = Field(
        default="strict",
        description="strict: fail on any schema change; evolve: add and widen columns, keep "
        "dropped ones (NULL from then on)",
    )
    parallelism: int | None = Field(
        default=None,
        ge=1,
        description="work units moved at once (default: number of cores; on Dask: no limit)",
    )
    memory: str | int | None = Field(
        default=None,
        description="bytes the flow may hold: readers' blocks, batches in flight and writers' "
        "open row groups, e.g. 256MB (default: the run's budget)",
    )
    retry: RetryConfig = Field(default_factory=RetryConfig)
    description: str | None = None
    allow_overlap: bool = Field(
        default=False,
        description="let the store's path be the home's, or inside or around it",
    )
    transform: list[Any] = Field(
        default_factory=list,
        description="transforms applied in order to every batch: - NAME: options "
        "(docs/transforms.md)",
    )
    checks: list[Any] = Field(
        default_factory=list,
        description="checks on the transformed rows before commit: - NAME: options "
        "(docs/checks.md)",
    )
    timeout: Duration | None = Field(
        default=None,
        description="fail the flow, committing nothing, once it has run this long "
        "('30s', '10 minutes', '2h', or seconds)",
    )
    entities: list[str | int] | dict[str, str] | None = Field(
        default=None,
        description="make this flow a template: one flow NAME.ENTITY per entity of a list, "
        "{query: SQL} or {glob: PATTERN}, with {entity} filled in",
    )

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            parse_bytes(value)  # validate now: `run` must never meet a size `validate` passed
        return value

    @property
    def timeout_seconds(self) -> float | None:
        """`timeout:` in seconds; None: no limit."""
        return None if self.timeout is None else parse_seconds(self.timeout)


class Defaults(BaseModel):
    """`defaults:`: options merged into every flow (a flow's own value wins)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    home: dict[str, Any] = Field(default_factory=dict)
    store: dict[str, Any] = Field(default_factory=dict)
    schema_drift: Literal["strict", "evolve"] | None = None
    parallelism: int | None = Field(default=None, ge=1)
    memory: str | int | None = None
    retry: RetryConfig | None = None
    timeout: Duration | None = None

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            parse_bytes(value)
        return value


class ExecutorSpec(BaseModel):
    """`executor:`: where work units run (default: local threads)."""

    model_config = ConfigDict(extra="allow", defer_build=True)
    type: str = "local"


class FileSpec(BaseModel):
    """The whole of flows.yaml."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    flows: dict[str, Any] = Field(description="flow name → home, store and options")
    connections: dict[str, dict[str, Any]] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    vars: dict[str, Any] = Field(
        default_factory=dict,
        description="named values the file uses as ${var.NAME}; hygge run --var NAME=VALUE "
        "overrides one",
    )
    memory: str | int | None = Field(
        default=None,
        description="the run-wide budget the flows running at once share, e.g. 1GB "
        "(default: a quarter of the container's memory limit, at most 512MB)",
    )

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            parse_bytes(value)
        return value


_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(GB|MB|KB|B)?")


def parse_bytes(value: str | int) -> int:
    """`256MB` → 268435456. Accepts B, KB, MB, GB (powers of 1024) and plain integers.

    The one parser of sizes: raises `ValueError` with the message users see for anything
    that is not a positive size (`plenty`, `0`, `-5MB`).
    """
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    else:
        m = _SIZE.fullmatch(str(value).strip().upper().replace(" ", ""))
        factor = {"GB": 1 << 30, "MB": 1 << 20, "KB": 1 << 10}.get(m.group(2) or "B", 1) if m else 0
        number = int(float(m.group(1)) * factor) if m else None
    if number is None or number <= 0:
        raise ValueError(
            f"'{value}' is not a positive size; write bytes or a number with KB, MB or GB, "
            "e.g. 256MB"
        )
    return number


def parse_seconds(value: str | int | float) -> float:
    """`'30s'`, `'10 minutes'`, `'2h'` or a number of seconds → seconds (positive).

    Raises `ValueError` with the message users see for anything else.
    """
    import datetime as dt

    from hygge_core.errors import HyggeError
    from hygge_core.incremental import parse_lookback

    problem = (
        f"'{value}' is not a duration; write e.g. '30s', '10 minutes', '2h', or a number of seconds"
    )
    if isinstance(value, bool):
        raise ValueError(problem)
    try:
        parsed = parse_lookback(value)
    except HyggeError:
        raise ValueError(problem) from None
    seconds = parsed.total_seconds() if isinstance(parsed, dt.timedelta) else float(parsed)
    if seconds <= 0:
        raise ValueError(problem)
    return seconds
