"""The `metrics:` section of flows.yaml."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hygge_core import rebase_path


class MetricsSettings(BaseModel):
    """Where a run's metrics go: a Pushgateway, a node-exporter textfile, an OpenTelemetry
    collector (OTLP/HTTP), or several."""

    # defer_build: the validator is built when a file has a `metrics:` section, not when
    # hygge loads the plugin at every start-up.
    model_config = ConfigDict(extra="forbid", defer_build=True)
    pushgateway: str | None = Field(
        default=None, description="Pushgateway URL, e.g. http://127.0.0.1:9091"
    )
    textfile: str | None = Field(
        default=None, description="a .prom file in node-exporter's textfile directory"
    )
    otlp: str | None = Field(
        default=None,
        description="OpenTelemetry collector's OTLP/HTTP base URL, e.g. http://127.0.0.1:4318 "
        "(traces go to /v1/traces, metrics to /v1/metrics)",
    )
    otlp_headers: dict[str, str] = Field(
        default_factory=dict, description="headers of every OTLP request (an API key, say)"
    )
    service_name: str = Field(default="hygge", description="OpenTelemetry `service.name`")
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
        if not self.pushgateway and not self.textfile and not self.otlp:
            raise ValueError(
                "metrics need a destination: set pushgateway:, textfile:, otlp: or several"
            )
        return self
