"""`hygge init`: the commented starter flows.yaml, with one flow that runs as it stands.

The flow that runs copies a small example file that `init` writes beside the flows.yaml
(Parquet with hygge-parquet, else CSV with hygge-csv); every other example is commented
out, and installed plugins add theirs through `hygge_init_snippet`.
"""

from __future__ import annotations

import os
import pathlib
import textwrap
from dataclasses import dataclass

from hygge_core.errors import HyggeError
from hygge_core.plugins import Registry

HEADER = """\
# flows.yaml, written by `hygge init` for the plugins installed here:
{plugins}
# Check it: hygge validate {name}     Run it: hygge run {name}
# Every key: docs/flows-yaml.md. Relative paths are relative to this file's folder.

# vars:                      # values used below as ${{var.NAME}}; hygge run --var NAME=VALUE
#   day: "2026-01-01"
# connections:               # named settings that homes and stores refer to
#   app: {{type: sql, url: "sqlite:///app.db"}}
# defaults:                  # merged into every flow; a flow's own value wins
#   retry: {{attempts: 5}}
#   timeout: 30 minutes

flows:
  example:                   # a flow: copy {data} into {store}
    home: {data}
    store: {store}
    # schema_drift: evolve   # accept new and dropped columns, and widened types
    # timeout: 10 minutes    # fail (committing nothing) past this
    # transform:             # reshape the rows on their way (docs/transforms.md)
    #   - rename: {{case: snake}}
    #   - load_metadata: true  # _hygge_run_id, _hygge_loaded_at
    # checks:                # before anything is committed (docs/checks.md)
    #   - row_count: {{min: 1}}

  # One template, a flow per table or file: tables.users, tables.orders
  # tables:
  #   entities: [users, orders]        # or {{query: SQL}}, or {{glob: "data/*.csv"}}
  #   home: data/{{entity}}.{suffix}
  #   store: lake/{{entity}}/
"""


@dataclass
class Starter:
    """What `hygge init` writes: the flows.yaml text and the example file the flow reads."""

    text: str
    data_path: str
    data_kind: str  # "parquet" or "csv"


def starter(registry: Registry, name: str) -> Starter:
    """The starter for a flows.yaml called `name`, for the installed plugins."""
    homes, stores = set(registry.homes), set(registry.stores)
    if {"parquet"} <= homes & stores:
        kind, data, store = "parquet", "data/example.parquet", "lake/example/"
    elif {"csv"} <= homes & stores:
        kind, data, store = "csv", "data/example.csv", "lake/example.csv"
    else:
        raise HyggeError(
            "hygge init writes an example flow that runs, which needs hygge-parquet (or "
            "hygge-csv): pip install hygge-parquet"
        )
    plugins = textwrap.fill(
        ", ".join(f"{p.dist} {p.version}" for p in registry.plugins.values()),
        width=90,
        initial_indent="#   ",
        subsequent_indent="#   ",
    )
    text = HEADER.format(plugins=plugins, name=name, data=data, store=store, suffix=kind)
    snippets = _snippets(registry)
    if snippets:
        text += "\n  # More examples, from the installed plugins (remove the # to use one):\n"
        text += "".join(snippets)
    return Starter(text, data, kind)


def _snippets(registry: Registry) -> list[str]:
    """Each plugin's example, commented out under a line naming its distribution."""
    out = []
    impls = registry.pm.hook.hygge_init_snippet.get_hookimpls()
    for impl in sorted(impls, key=lambda i: str(i.plugin_name)):
        dist = impl.plugin_name.split(":", 1)[0]
        try:
            snippet = impl.function()
        except Exception as exc:  # a broken example must not stop `init`
            out.append(f"\n  # ({dist}'s example failed: {type(exc).__name__})\n")
            continue
        if not isinstance(snippet, str) or not snippet.strip():
            continue
        lines = textwrap.dedent(snippet).strip("\n").splitlines()
        body = "".join(f"  # {line}\n" if line.strip() else "  #\n" for line in lines)
        out.append(f"\n  # {dist}:\n{body}")
    return out


def write_starter(path: str, registry: Registry) -> list[str]:
    """Write the starter flows.yaml at `path` and its example data beside it (unless that
    exists already); return the paths written. Never overwrites the flows.yaml."""
    target = pathlib.Path(path)
    if target.exists():
        raise HyggeError(
            f"{path} already exists; hygge init never overwrites a file: remove it, or "
            "give another name (hygge init other.yaml)"
        )
    made = starter(registry, path)
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with open(target, "x", encoding="utf-8") as handle:  # "x": never over a file
        handle.write(made.text)
    written.append(str(target))
    data = folder / made.data_path
    if not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        _example_data(data, made.data_kind)
        written.append(
            os.path.join(str(folder), made.data_path) if str(folder) != "." else made.data_path
        )
    return written


def _example_data(path: pathlib.Path, kind: str) -> None:
    """Three rows to copy: enough to see a run work."""
    if kind == "csv":
        path.write_text("id,name,amount\n1,Ann,10.50\n2,Bo,3.25\n3,Cy,7.00\n", encoding="utf-8")
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": [1, 2, 3], "name": ["Ann", "Bo", "Cy"], "amount": [10.5, 3.25, 7.0]})
    pq.write_table(table, path)
