"""Reading flows.yaml: YAML with locations, `${VAR}` expansion, per-plugin validation."""

from hygge_core.config.loader import Document, load_document
from hygge_core.config.models import FileSpec, FlowSpec, RetryConfig
from hygge_core.config.resolve import Plan, ResolvedFlow, resolve_file

__all__ = [
    "Document",
    "FileSpec",
    "FlowSpec",
    "Plan",
    "ResolvedFlow",
    "RetryConfig",
    "load_document",
    "resolve_file",
]
