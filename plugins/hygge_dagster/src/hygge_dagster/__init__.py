"""Dagster assets for the flows of a hygge flows.yaml (see README.md)."""

from hygge_dagster.assets import asset_name, hygge_assets

__all__ = ["asset_name", "hygge_assets"]
