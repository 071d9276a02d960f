"""hygge-core's own plugin: the local executor, local-disk storage, transforms and checks.

Registered through the same hooks as any third-party plugin (and marked `trylast` where it
is a fallback), so core has no private path for its own features.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from hygge_core.executors.local import LocalExecutor
from hygge_core.storage import LocalStorage

hookimpl = pluggy.HookimplMarker("hygge")


@hookimpl
def hygge_register_executors(register: Callable[[str, type], None]) -> None:
    register("local", LocalExecutor)


# By "module:Class": pyarrow.compute and the models load only when a flow uses them.
TRANSFORMS = {
    "select": "Select",
    "drop": "Drop",
    "rename": "Rename",
    "cast": "Cast",
    "filter": "Filter",
    "derive": "Derive",
    "constant": "Constant",
    "hash": "Hash",
    "mask": "Mask",
    "load_metadata": "LoadMetadata",
}
CHECKS = {
    "not_null": "NotNull",
    "unique": "Unique",
    "accepted_values": "AcceptedValues",
    "range": "Range",
    "regex": "Regex",
    "row_count": "RowCount",
    "freshness": "Freshness",
    "expression": "ExpressionCheck",
}


@hookimpl
def hygge_register_transforms(register: Callable[[str, str], None]) -> None:
    for name, cls in TRANSFORMS.items():
        register(name, f"hygge_core.transforms:{cls}")


@hookimpl
def hygge_register_checks(register: Callable[[str, str], None]) -> None:
    for name, cls in CHECKS.items():
        register(name, f"hygge_core.checks:{cls}")


@hookimpl
def hygge_register_storage(register: Callable[[type], None]) -> None:
    register(LocalStorage)
