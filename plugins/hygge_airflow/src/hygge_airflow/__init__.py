"""An Airflow operator for hygge flows (see README.md)."""

from hygge_airflow.operator import HyggeOperator

__all__ = ["HyggeOperator"]
