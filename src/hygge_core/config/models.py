"""The pydantic models of flows.yaml's own keys. Home and store mappings are validated
later by the model of the plugin type they name."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# Every config model here and in hygge_core's home, store and storage bases (so every plugin
# model that subclasses them) sets `defer_build=True`: pydantic builds a validator when the
# model is first used, so the models of installed plugins a run never touches cost nothing
# at start-up.


def _check_bytes(value: str | int | None) -> str | int | None:
    if value is None:
        return None
    try:
        size = parse_bytes(value)
    except ValueError:
        raise ValueError(
            f"'{value}' is not a size; write a number of bytes with a unit, e.g. 256MB or 2GB"
        ) from None
    if size < 1 << 20:
        raise ValueError(f"'{value}' is too small a budget; give at least 1MB, e.g. 256MB")
    return value


Memory = Annotated[str | int | None, AfterValidator(_check_bytes)]


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
        default="strict", description="strict: fail on any schema change; evolve: add/widen"
    )
    parallelism: int | None = Field(
        default=None,
        ge=1,
        description="work units moved at once (default: number of cores; on Dask: no limit)",
    )
    memory: Memory = Field(
        default=None,
        description="bytes the flow may hold: readers' blocks, batches in flight and writers' "
        "open row groups, e.g. 256MB (default: the run's budget)",
    )
    retry: RetryConfig = Field(default_factory=RetryConfig)
    description: str | None = None


class Defaults(BaseModel):
    """`defaults:`: options merged into every flow (a flow's own value wins)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    home: dict[str, Any] = Field(default_factory=dict)
    store: dict[str, Any] = Field(default_factory=dict)
    schema_drift: Literal["strict", "evolve"] | None = None
    parallelism: int | None = Field(default=None, ge=1)
    memory: Memory = None
    retry: RetryConfig | None = None


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
    memory: Memory = Field(
        default=None,
        description="the run-wide budget the flows running at once share, e.g. 1GB "
        "(default: a quarter of the container's memory limit, at most 512MB)",
    )


def parse_bytes(value: str | int) -> int:
    """`256MB` → 268435456. Accepts B, KB, MB, GB, TB (powers of 1024; `MiB` etc. too) and
    plain integers; raises ValueError for anything else."""
    if isinstance(value, int):
        return value
    text = value.strip().upper().replace(" ", "").replace("IB", "B")
    for suffix, factor in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text.removesuffix("B"))
