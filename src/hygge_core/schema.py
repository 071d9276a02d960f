"""Schema drift: comparing what a store holds with what a home now yields, and the schema a
store writes under `schema_drift: evolve`."""

from __future__ import annotations

from typing import TypeVar

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


# What `evolve` accepts: new columns, widened types, and columns the home no longer has
# (kept in the store, NULL in the rows written from now on).
EVOLVE = {"added", "widened", "removed"}


def drift(old: pa.Schema, new: pa.Schema, policy: str) -> str | None:
    """None if `new` may be written beside `old` under `policy`, else the reason with a diff.

    `strict` accepts no difference; `evolve` accepts added columns, widenings
    (int32→int64, float32→float64) and dropped columns (see `evolved`), and nothing that
    reinterprets data: any other type change fails, listing every column as old → new.
    """
    changes = diff(old, new)
    if not changes:
        return None
    allowed = EVOLVE if policy == "evolve" else set()
    blocking = [kind for kind, _ in changes if kind not in allowed]
    if not blocking:
        return None
    if policy == "strict" and all(k in EVOLVE for k, _ in changes):
        hint = (
            "set schema_drift: evolve on the flow to accept added and dropped columns and widenings"
        )
    elif "changed" in blocking:
        hint = (
            "a type change that is not a widening would reinterpret the stored values: "
            "cast the column in the home back to the stored type, or run once with "
            "--mode replace to start over with the new types"
        )
    else:
        hint = "change the home back, or run with mode: replace to start over"
    return (
        f"schema changed ({policy} policy); nothing was written:\n      "
        + "\n      ".join(text for _, text in changes)
        + f"\n    hint: {hint}"
    )


def evolved(old: pa.Schema, new: pa.Schema) -> pa.Schema:
    """The schema a store holding `old` writes `new`'s rows as, once `drift` accepted it
    under `evolve`: `old`'s columns in their order (with `new`'s type where it widened
    one; a column `new` lacks kept, nullable), then the columns `new` added."""
    fields = []
    for f in old:
        if f.name in new.names:
            fields.append(f.with_type(new.field(f.name).type))
        else:
            fields.append(f.with_nullable(True))
    fields += [g for g in new if g.name not in old.names]
    return pa.schema(fields)


Data = TypeVar("Data", pa.Table, pa.RecordBatch)


def fill_columns(data: Data, target: pa.Schema) -> Data:
    """`data` laid out as `target` (from `evolved`): its columns in `target`'s order, and a
    column it lacks as NULLs of the target's type."""
    if data.schema.equals(target, check_metadata=False):
        return data
    columns = [
        data.column(f.name) if f.name in data.schema.names else pa.nulls(data.num_rows, f.type)
        for f in target
    ]
    return type(data).from_arrays(columns, schema=target)
