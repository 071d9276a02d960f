"""The hooks a hygge plugin can implement. This module holds nothing but their specs.

Registration hooks receive a `register` callback and call it once per type they provide;
hygge attributes each registration to the plugin's distribution, so two distributions that
register the same type name are reported as a conflict naming both.

Lifecycle hooks are observe-only: their return value is ignored and an exception raised in
one implementation is logged as a warning naming its plugin; the other implementations
still run and the flow is not affected. They are called in the driver (the `hygge run`
process), whatever the executor. hygge's own reporters (progress bars, plain lines, JSON
lines, the summary) are implementations of these hooks registered for the run, so
metrics, notifications and lineage plugins see exactly what the user sees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable

    from hygge_core.events import (
        BatchEvent,
        FlowEvent,
        FlowFailedEvent,
        NoteEvent,
        RunEvent,
        UnitEvent,
    )

hookspec = pluggy.HookspecMarker("hygge")


@hookspec
def hygge_register_homes(register: Callable[[str, type], None]) -> None:
    """Register Home classes: call `register(type_name, HomeClass)` once per type.

    `HomeClass` subclasses `hygge_core.Home` and names its pydantic config model in
    `config_model`. `type_name` is what users write as `home: {type: NAME}`. The class may
    be given as a `"module:Class"` string instead, imported only when a flow uses the type,
    so that heavy imports (drivers, SDKs) cost nothing to runs that do not need them.
    """


@hookspec
def hygge_register_stores(register: Callable[[str, type], None]) -> None:
    """Register Store classes: call `register(type_name, StoreClass)` once per type.

    `StoreClass` subclasses `hygge_core.Store`; users select it with `store: {type: NAME}`.
    As for homes, a `"module:Class"` string defers the import to first use.
    """


@hookspec
def hygge_register_executors(register: Callable[[str, type], None]) -> None:
    """Register executors: call `register(name, ExecutorClass)` once per executor.

    `ExecutorClass` subclasses `hygge_core.Executor`; users select it with
    `hygge run --executor NAME` or `executor: {type: NAME}` in flows.yaml. The local thread
    executor is registered through this same hook by hygge-core itself.
    """


@hookspec
def hygge_register_transforms(register: Callable[[str, type], None]) -> None:
    """Register transforms: call `register(name, TransformClass)` once per transform.

    `TransformClass` subclasses `hygge_core.Transform`; users write `- NAME: options` in a
    flow's `transform:` list. hygge-core's own transforms (select, rename, cast, ...) are
    registered through this same hook. A `"module:Class"` string defers the import.
    """


@hookspec
def hygge_register_checks(register: Callable[[str, type], None]) -> None:
    """Register checks: call `register(name, CheckClass)` once per check.

    `CheckClass` subclasses `hygge_core.Check`; users write `- NAME: options` in a flow's
    `checks:` list. hygge-core's own checks (not_null, unique, ...) are registered through
    this same hook. A `"module:Class"` string defers the import.
    """


@hookspec
def hygge_register_storage(register: Callable[..., None]) -> None:
    """Register storage backends for file paths: call `register(StorageClass)`.

    `StorageClass` subclasses `hygge_core.Storage` and lists the URL protocols it serves
    (`s3`, `gs`, ...). Every file-based Home and Store resolves its paths through the
    registered storages, so a storage plugin extends all of them at once. To import the
    class only when a path of its protocols is used, call
    `register("module:Class", protocols=("s3", "s3a"))` instead.
    """


@hookspec
def hygge_register_settings(register: Callable[[str, type], None]) -> None:
    """Register a top-level section of flows.yaml: call `register(section, Model)`.

    `Model` is a pydantic model (use `extra="forbid"`); hygge validates the section with it
    and reports its errors at their file:line like any other field's. The validated model
    reaches lifecycle hooks in `RunEvent.settings[section]`; a section absent from the file
    is absent there. A section name that hygge or another distribution already owns is a
    conflict that marks the plugin as broken.
    """


@hookspec(firstresult=True)
def hygge_type_for_path(path: str, side: str) -> str | None:
    """Return the type name that should handle a bare path, or None to pass.

    Called when a flow writes `home: some/path` or `store: some/path` instead of a mapping.
    `side` is `"home"` or `"store"`. The first non-None answer wins; implement with
    `trylast=True` for catch-all answers such as "any directory".
    """


@hookspec
def hygge_init_snippet() -> str | None:
    """Return an example of this plugin's types for the flows.yaml `hygge init` writes.

    The text is one or more flows as they stand under `flows:` (flow names indented by two
    spaces), in plain YAML. `hygge init` comments every line out and heads it with the
    distribution's name, so the starter file stays valid whatever the example says; users
    remove the `#` to use it. Return None to add nothing.
    """


@hookspec
def hygge_flow_started(event: FlowEvent) -> None:
    """Observe: a flow's attempt has started (its plan is known).

    Fires once per attempt: a transient fault retries the attempt, and this hook again.
    """


@hookspec
def hygge_batch_staged(event: BatchEvent) -> None:
    """Observe: a record batch was handed to the store's staging writer.

    Fires only under executors that stage in the driver process (`local`), on the thread
    that stages the unit, possibly from several threads at once. Executors whose units run
    elsewhere (`dask`) do not report batches: use `hygge_unit_staged`, which fires on every
    executor. Staged data is not visible to readers until the flow commits.
    """


@hookspec
def hygge_unit_staged(event: UnitEvent) -> None:
    """Observe: a work unit was staged and its receipt reached the driver.

    Fires on every executor (Dask included), once per unit the attempt staged, before the
    commit; units adopted from an interrupted run were staged earlier and do not fire.
    """


@hookspec
def hygge_flow_note(event: NoteEvent) -> None:
    """Observe: something the user should know about a flow's run.

    A recovery, a retry, resumed units, a skip after another flow failed (`--fail-fast`).
    """


@hookspec
def hygge_flow_finished(event: FlowEvent) -> None:
    """Observe: a flow committed successfully; `event` carries rows, bytes and seconds."""


@hookspec
def hygge_flow_failed(event: FlowFailedEvent) -> None:
    """Observe: a flow failed; nothing it staged was published."""


@hookspec
def hygge_run_finished(event: RunEvent) -> None:
    """Observe: the run ended; `event.results` holds one result per selected flow.

    Fires once per run, after every flow ended, also for `--dry-run` (`event.dry_run`).
    The run summary is printed by this hook.
    """
