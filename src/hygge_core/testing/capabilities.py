"""What a Home or Store class declares it can do, read from its class attributes.

The kit runs the checks a plugin declares and skips the others, and `hygge plugins` shows
the same declarations, so users and the kit see one truth. Nothing here imports pytest:
the CLI may import this module.

Declarations (class attributes; all optional except what core already requires):

- `Store.modes`: the write modes the store supports (`append`, `replace`, `merge`).
- `Home.supports_incremental`: the home filters by a cursor window.
- `Home.splits`: a home plans one source as several work units (files, row groups,
  key ranges), so one flow spreads over cores or workers.
- `arrow_types` (Home or Store): the kit's type names the class round-trips exactly; None
  means every one of them (`KIT_TYPES`).
"""

from __future__ import annotations

from typing import Any

KIT_TYPES = (
    "int32",
    "int64",
    "float64",
    "bool",
    "string",
    "timestamp",
    "timestamp_tz",
    "date",
    "decimal",
    "binary",
)
"""The column types of `sample_table`, which `arrow_types` names a subset of."""


def arrow_types(cls: type) -> set[str] | None:
    """The kit types `cls` declares (None: all); unknown names are an error."""
    declared = getattr(cls, "arrow_types", None)
    if declared is None:
        return None
    unknown = sorted(set(declared) - set(KIT_TYPES))
    if unknown:
        raise ValueError(
            f"{cls.__name__}.arrow_types names unknown types {unknown}; "
            f"known: {', '.join(KIT_TYPES)}"
        )
    return set(declared)


def declared_capabilities(cls: type, side: str) -> dict[str, Any]:
    """The capabilities of a registered Home (`side="home"`) or Store class, as plain data."""
    types = arrow_types(cls)
    out: dict[str, Any] = {"arrow_types": sorted(types) if types is not None else "all"}
    if side == "home":
        out["incremental"] = bool(getattr(cls, "supports_incremental", False))
        out["splits"] = bool(getattr(cls, "splits", False))
    else:
        out["modes"] = sorted(getattr(cls, "modes", ()))
    return out
