"""Schema drift: comparing what a store holds with what a home now yields."""

from __future__ import annotations

import pyarrow as pa

# Widenings `evolve` accepts: old type → new types it may become.
_WIDEN = {
    pa.int8(): {pa.int16(), pa.int32(), pa.int64()},
    pa.int16(): {pa.int32(), pa.int64()},
    pa.int32(): {pa.int64()},
    pa.float32(): {pa.float64()},
}


def diff(old: pa.Schema, new: pa.Schema) -> list[tuple[str, str]]:
    """Column-by-column differences as (kind, text); kind is added, removed, changed, widened."""
    out = []
    for f in old:
        if f.name not in new.names:
            out.append(("removed", f"- {f.name}: {f.type} (missing from the home)"))
            continue
        g = new.field(f.name)
        if not g.type.equals(f.type):
            kind = "widened" if g.type in _WIDEN.get(f.type, set()) else "changed"
            out.append((kind, f"~ {f.name}: {f.type} → {g.type}"))
    out += [
        ("added", f"+ {g.name}: {g.type} (new in the home)") for g in new if g.name not in old.names
    ]
    return out


def drift(old: pa.Schema, new: pa.Schema, policy: str) -> str | None:
    """None if `new` may be written beside `old` under `policy`, else the reason with a diff.

    `strict` accepts no difference; `evolve` accepts added columns and widenings
    (int32→int64, float32→float64) and nothing that loses or reinterprets data.
    """
    changes = diff(old, new)
    if not changes:
        return None
    allowed = {"added", "widened"} if policy == "evolve" else set()
    blocking = [text for kind, text in changes if kind not in allowed]
    if not blocking:
        return None
    hint = (
        "set schema_drift: evolve on the flow to accept added columns and widenings"
        if policy == "strict" and all(k in {"added", "widened"} for k, _ in changes)
        else "change the home back, or run with mode: replace to start over"
    )
    return (
        f"schema changed ({policy} policy); nothing was written:\n      "
        + "\n      ".join(text for _, text in changes)
        + f"\n    hint: {hint}"
    )
