"""hygge-core's own plugin: the local executor and local-disk storage.

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


@hookimpl
def hygge_register_storage(register: Callable[[type], None]) -> None:
    register(LocalStorage)
