"""Package exports imported on first use (PEP 562), so that importing a package stays cheap.

Every `hygge` command loads every installed plugin's registration module; a package whose
`__init__` imported its implementation would make each command pay for SQLAlchemy, dask or
the cloud SDKs, whether a flow uses them or not.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package` that imports `exports[name]` (a module path) the
    first time `name` is asked for, and keeps the value on the package afterwards::

        __getattr__ = lazy_exports(__name__, {"SqlHome": "hygge_sql.home"})
    """
    table = dict(exports)

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
