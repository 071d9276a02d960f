"""The `metrics:` section of flows.yaml."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hygge_core import rebase_path


class MetricsSettings(BaseModel):
    """Where a run's metrics go: a Pushgateway, a node-exporter textfile, or both."""

    # defer_build: the validator is built when a file has a `metrics:` section, not when
    # hygge loads the plugin at every start-up.
    model_config = ConfigDict(extra="forbid", defer_build=True)
    pushgateway: str | None = Field(
        default=None, description="Pushgateway URL, e.g. http://127.0.0.1:9091"
    )
    textfile: str | None = Field(
        default=None, description="a .prom file in node-exporter's textfile directory"
    )
    job: str = Field(default="hygge", description="the `job` label of the pushed groups")
    timeout: float = Field(default=10.0, gt=0, description="seconds per Pushgateway request")

    @classmethod
    def relative_to(cls, raw: dict[str, Any], folder: str) -> dict[str, Any]:
        """A relative `textfile:` is relative to the flows.yaml's folder, like its paths."""
        if folder and "textfile" in raw:
            return {**raw, "textfile": rebase_path(raw["textfile"], folder)}
        return raw

    @model_validator(mode="after")
    def _somewhere(self) -> MetricsSettings:
        if not self.pushgateway and not self.textfile:
            raise ValueError("metrics need a destination: set pushgateway:, textfile: or both")
        return self
