"""Prometheus metrics for hygge runs, from the lifecycle hooks (see README.md)."""
