"""One Dagster asset per flow of a flows.yaml, built on hygge's public Python API.

Materialising an asset runs its flow (`hygge_core.api.run_file`); the materialisation's
metadata is the run record the flow's store committed (rows, bytes, seconds, retries,
units, mode, run id, cursor), read back with `hygge_core.api.history`, so what Dagster
shows is what the store holds. A failed flow fails the asset with hygge's one-line error.
"""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at
# definition time and wants the class, not a string.
import re
from collections.abc import Sequence
from typing import Any

import dagster as dg

from hygge_core import ConfigError
from hygge_core.api import flow_names, history, run_file


def asset_name(flow: str) -> str:
    """A flow's name as a Dagster asset name (letters, digits and `_` only)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", flow)


def hygge_assets(
    flows_file: str,
    *,
    flows: Sequence[str] | None = None,
    key_prefix: str | Sequence[str] | None = None,
    group_name: str = "hygge",
) -> list[dg.AssetsDefinition]:
    """Assets for the flows of `flows_file` (all, or those named in `flows`).

    The file is read now, so a bad flows.yaml fails when Dagster loads the definitions,
    with hygge's message naming the file, line and field.
    """
    try:
        names = flow_names(flows_file)
    except ConfigError as exc:
        raise dg.DagsterInvariantViolationError(
            f"hygge: {flows_file} is invalid:\n{exc.render()}"
        ) from None
    unknown = sorted(set(flows or ()) - set(names))
    if unknown:
        raise dg.DagsterInvariantViolationError(
            f"hygge: no flow {', '.join(unknown)} in {flows_file}; its flows: {', '.join(names)}"
        )
    return [
        _asset(flows_file, name, key_prefix, group_name)
        for name in names
        if flows is None or name in flows
    ]


def _asset(
    flows_file: str, flow: str, key_prefix: str | Sequence[str] | None, group_name: str
) -> dg.AssetsDefinition:
    @dg.asset(
        name=asset_name(flow),
        key_prefix=key_prefix,
        group_name=group_name,
        kinds={"hygge"},
        description=f"hygge flow `{flow}` of {flows_file}",
    )
    def materialise(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        (result,) = run_file(flows_file, [flow])
        if result.status != "ok":
            raise dg.Failure(
                description=f"hygge flow {flow}: {result.error}",
                metadata={"run_id": result.run_id or "", "status": result.status},
            )
        context.log.info(f"hygge flow {flow}: {result.rows:,} rows in {result.seconds:.2f} s")
        return dg.MaterializeResult(metadata=_metadata(flows_file, flow, result))

    return materialise


def _metadata(flows_file: str, flow: str, result: Any) -> dict[str, Any]:
    """The run record this run committed, as Dagster metadata values."""
    (found,) = history(flows_file, [flow])
    record = next((r for r in reversed(found.runs) if r["run_id"] == result.run_id), None)
    if record is None:  # the store keeps no history: what the run itself counted
        record = {
            "run_id": result.run_id,
            "rows": result.rows,
            "bytes": result.bytes,
            "seconds": result.seconds,
            "units": result.units,
            "retries": result.retries,
        }
    meta: dict[str, Any] = {
        "rows": dg.MetadataValue.int(int(record["rows"])),
        "bytes": dg.MetadataValue.int(int(record.get("bytes", 0))),
        "seconds": dg.MetadataValue.float(float(record.get("seconds", 0.0))),
        "units": dg.MetadataValue.int(int(record.get("units", 0))),
        "retries": dg.MetadataValue.int(int(record.get("retries", 0))),
        "run_id": dg.MetadataValue.text(str(record["run_id"])),
        "route": dg.MetadataValue.text(found.route),
    }
    for key in ("mode", "finished_at"):
        if key in record:
            meta[key] = dg.MetadataValue.text(str(record[key]))
    if found.cursor:
        meta["cursor"] = dg.MetadataValue.text(found.cursor)
    return meta
