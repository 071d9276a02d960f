"""Executors that ship with hygge-core."""
