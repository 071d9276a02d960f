"""Checks: a flow's `checks:` list, evaluated on the transformed batches before the commit.

Each work unit keeps a small partial result per check (a JSON-able dict: counts, a few
examples, a maximum) that travels back with the unit's receipt, also from Dask workers;
the driver combines the partials of all units into a `CheckOutcome` before committing. A
failed check of severity `error` aborts the flow: nothing is published and state does not
move. Built-ins are registered through `hygge_register_checks` (docs/checks.md).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from hygge_core.expr import ExprError, as_array
from hygge_core.transforms import Expression

EXAMPLES = 5  # failing rows shown per check


class CheckConfig(BaseModel):
    """Options every check has: `severity` and an optional `name` for reports."""

    model_config = ConfigDict(extra="forbid")
    severity: Literal["error", "warn"] = Field(
        default="error", description="error: abort the flow before commit; warn: report"
    )
    name: str | None = Field(default=None, description="the check's name in reports")


@dataclass(frozen=True)
class UnitScope:
    """Where a unit's check partials may spill: the flow, the run and the unit."""

    flow: str
    run_id: str
    unit: str
    seq: int
    memory: int = 0  # the flow's byte budget (0: not known), for checks that hold data


@dataclass
class CheckOutcome:
    """A check's combined result over the whole run."""

    name: str
    check: str
    severity: str
    rows: int
    failed: int
    examples: list[str] = field(default_factory=list)
    detail: str = ""
    where: str = ""

    @property
    def passed(self) -> bool:
        """No failing row (and no failing aggregate)."""
        return self.failed == 0

    def describe(self) -> str:
        """One sentence: `check not_null(email) (flows.yaml:14): 2 of 10 rows fail, e.g. ...`"""
        at = f" ({self.where})" if self.where else ""
        text = f"check {self.name}{at}: "
        text += self.detail or f"{self.failed:,} of {self.rows:,} row(s) fail"
        if self.examples:
            text += ", e.g. " + "; ".join(self.examples)
        return text

    def to_json(self) -> dict[str, Any]:
        """For `--log-format json`."""
        return {
            "name": self.name,
            "check": self.check,
            "severity": self.severity,
            "passed": self.passed,
            "rows": self.rows,
            "failed": self.failed,
            "examples": self.examples,
            "detail": self.detail,
            "where": self.where,
        }


class Check(ABC):
    """One entry of a flow's `checks:` list.

    Users write `- NAME: VALUE`; `normalize(VALUE)` turns short forms into the mapping
    `config_model` (a `CheckConfig` subclass) validates. Per unit, `start` makes a partial
    (a JSON-able dict), `observe` updates it with each transformed batch (vectorised),
    `finish` ends it; in the driver, `combine` turns every unit's partial into the outcome.
    Partials must stay small: they are pickled back from workers and kept in resume records.
    """

    config_model: ClassVar[type[CheckConfig]] = CheckConfig

    def __init__(self, config: Any, label: str = "") -> None:
        self.config = config
        self.label = config.name or label or type(self).__name__.lower()

    @classmethod
    def normalize(cls, value: Any) -> Any:
        """The mapping for `config_model` from what the user wrote (default: as written)."""
        return value

    def columns(self) -> list[str]:
        """The columns the check reads: checked against the transformed schema at plan."""
        return []

    def start(self, scope: UnitScope) -> dict[str, Any]:
        """A unit's fresh partial."""
        return {"rows": 0, "failed": 0, "examples": []}

    @abstractmethod
    def observe(self, partial: dict[str, Any], batch: pa.RecordBatch) -> None:
        """Fold one batch into `partial` (which already counted its rows)."""

    def finish(self, partial: dict[str, Any]) -> None:
        """The unit is staged: flush whatever `observe` buffered."""

    def combine(self, partials: list[dict[str, Any]]) -> CheckOutcome:
        """The outcome over all units (default: failing rows summed, first examples)."""
        examples: list[str] = []
        for p in partials:
            examples.extend(p["examples"][: EXAMPLES - len(examples)])
        return self.outcome(
            rows=sum(p["rows"] for p in partials),
            failed=sum(p["failed"] for p in partials),
            examples=examples,
        )

    def usable(self, partial: dict[str, Any]) -> bool:
        """Whether a partial kept from an interrupted run can still be combined."""
        return True

    def cleanup(self, partials: list[dict[str, Any]]) -> None:
        """The flow ended (committed or aborted): remove anything the partials spilled."""

    def outcome(
        self, rows: int, failed: int, examples: list[str], detail: str = ""
    ) -> CheckOutcome:
        """A `CheckOutcome` for this check."""
        return CheckOutcome(self.label, "", self.config.severity, rows, failed, examples, detail)


def record_failures(
    partial: dict[str, Any], batch: pa.RecordBatch, failing: pa.Array, columns: list[str]
) -> None:
    """Count the rows where `failing` is true and keep the first few as examples."""
    failing = pc.fill_null(failing, True)
    count = pc.sum(failing).as_py() or 0
    if not count:
        return
    partial["failed"] += count
    room = EXAMPLES - len(partial["examples"])
    if room > 0:
        rows = batch.filter(failing).slice(0, room).select(columns).to_pylist()
        partial["examples"].extend(_show(r) for r in rows)


def _show(row: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_value(v)}" for k, v in row.items())


def _value(v: Any) -> str:
    if v is None:
        return "NULL"
    text = repr(v) if isinstance(v, str) else str(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _columns_form(value: Any) -> Any:
    if isinstance(value, str):
        return {"columns": [value]}
    if isinstance(value, list):
        return {"columns": value}
    return value


# -- row checks ---------------------------------------------------------------------------


class ColumnsConfig(CheckConfig):
    columns: list[str] = Field(min_length=1, description="the columns checked")


class NotNull(Check):
    """`not_null: [a, b]`: no NULL in these columns."""

    config_model = ColumnsConfig

    @classmethod
    def normalize(cls, value: Any) -> Any:
        return _columns_form(value)

    def columns(self) -> list[str]:
        return list(self.config.columns)

    def observe(self, partial: dict[str, Any], batch: pa.RecordBatch) -> None:
        failing = None
        for c in self.config.columns:
            nulls = pc.is_null(batch.column(c))
            failing = nulls if failing is None else pc.or_(failing, nulls)
        assert failing is not None
        record_failures(partial, batch, failing, self.config.columns)


class AcceptedConfig(CheckConfig):
    column: str = Field(description="the column checked")
    values: list[Any] = Field(min_length=1, description="the values allowed (NULL passes)")


class AcceptedValues(Check):
    """`accepted_values: {column: status, values: [new, paid]}`: nothing else (NULL passes;
    add not_null to refuse it)."""

    config_model = AcceptedConfig

    def columns(self) -> list[str]:
        return [self.config.column]

    def observe(self, partial: dict[str, Any], batch: pa.RecordBatch) -> None:
        column = batch.column(self.config.column)
        allowed = pa.array(self.config.values)
        if allowed.type != column.type:
            allowed = allowed.cast(column.type)
        failing = pc.and_(pc.is_valid(column), pc.invert(pc.is_in(column, value_set=allowed)))
        record_failures(partial, batch, failing, [self.config.column])


class RangeConfig(CheckConfig):
    column: str = Field(description="the column checked")
    min: Any = Field(default=None, description="smallest value allowed (inclusive)")
    max: Any = Field(default=None, description="largest value allowed (inclusive)")

    def model_post_init(self, __context: Any) -> None:
        if self.min is None and self.max is None:
            raise ValueError("range needs min:, max: or both")


def _bound(value: Any, kind: pa.DataType) -> pa.Scalar:
    if pa.types.is_timestamp(kind) and isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if pa.types.is_date(kind) and isinstance(value, str):
        value = dt.date.fromisoformat(value)
    if pa.types.is_decimal(kind):
        from decimal import Decimal

        value = Decimal(str(value))
    return (
        pa.scalar(value).cast(kind)
        if not isinstance(value, dt.datetime)
        else pa.scalar(value, kind)
    )


class Range(Check):
    """`range: {column: amount, min: 0, max: 1000}`: values within bounds (NULL passes)."""

    config_model = RangeConfig

    def columns(self) -> list[str]:
        return [self.config.column]

    def observe(self, partial: dict[str, Any], batch: pa.RecordBatch) -> None:
        column = batch.column(self.config.column)
        failing = pa.repeat(pa.scalar(False), batch.num_rows)
        if self.config.min is not None:
            failing = pc.or_(failing, pc.less(column, _bound(self.config.min, column.type)))
        if self.config.max is not None:
            failing = pc.or_(failing, pc.greater(column, _bound(self.config.max, column.type)))
        record_failures(partial, batch, pc.fill_null(failing, False), [self.config.column])


class RegexConfig(CheckConfig):
    column: str = Field(description="the text column checked")
    pattern: str = Field(description="a regular expression (RE2) every value must match")

    def model_post_init(self, __context: Any) -> None:
        try:
            pc.match_substring_regex(pa.array([""]), pattern=self.pattern)
        except pa.ArrowInvalid as exc:
            raise ValueError(f"invalid pattern: {str(exc).splitlines()[0]}") from None


class Regex(Check):
    """`regex: {column: email, pattern: '^[^@]+@[^@]+$'}`: a search, so anchor it with ^ $
    to match whole values (NULL passes)."""

    config_model = RegexConfig

    def columns(self) -> list[str]:
        return [self.config.column]

    def observe(self, partial: dict[str, Any], batch: pa.RecordBatch) -> None:
        column = batch.column(self.config.column)
        ok = _match(column, self.config.pattern)
        failing = pc.and_(pc.is_valid(column), pc.invert(pc.fill_null(ok, True)))
        record_failures(partial, batch, failing, [self.config.column])


# A text column whose first rows hold at most this share of distinct values is matched
# once per distinct value (category-like columns: the hashing costs less than the regex).
_PROBE_ROWS = 4096
_DISTINCT_SHARE = 1 / 16


def _match(column: pa.Array, pattern: str) -> pa.Array:
    """`match_substring_regex` of every value; a dictionary column, or one with few
    distinct values, is matched once per distinct value and the results spread back."""
    if not pa.types.is_dictionary(column.type):
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            column = column.cast(pa.string())
        probe = column.slice(0, _PROBE_ROWS)
        if len(column) <= _PROBE_ROWS or pc.count_distinct(probe).as_py() > _DISTINCT_SHARE * len(
            probe
        ):
            return pc.match_substring_regex(column, pattern=pattern)
        column = pc.dictionary_encode(column)
    values = column.dictionary
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string())
    return pc.take(pc.match_substring_regex(values, pattern=pattern), column.indices)


class ExpressionConfig(CheckConfig):
    expression: str = Field(description="true on every good row (NULL counts as failing)")


class ExpressionCheck(Check):
    """`expression: "amount >= 0 or refunded"`: every row must make it true."""

    config_model = ExpressionConfig

    def __init__(self, config: Any, label: str = "") -> None:
        super().__init__(config, label)
        self.expr = Expression(config.expression)

    @classmethod
    def normalize(cls, value: Any) -> Any:
        return {"expression": value} if isinstance(value, str) else value

    def columns(self) -> list[str]:
        from hygge_core.expr import columns_of

        return columns_of(self.config.expression)

    def observe(self, partial: dict[str, Any], batch: pa.RecordBatch) -> None:
        ok = as_array(self.expr(batch), batch.num_rows)
        if not pa.types.is_boolean(ok.type):
            raise ExprError(f"the expression gives {ok.type}, not true/false", 0)
        cols = [c for c in self.columns() if c in batch.schema.names] or batch.schema.names[:3]
        record_failures(partial, batch, pc.invert(pc.fill_null(ok, False)), cols)


# -- aggregate checks --------------------------------------------------------------------


class RowCountConfig(CheckConfig):
    min: int | None = Field(default=None, ge=0, description="fewest rows the run may load")
    max: int | None = Field(default=None, ge=0, description="most rows the run may load")


class RowCount(Check):
    """`row_count: {min: 1, max: 1000000}`: the rows this run loads (after transforms)."""

    config_model = RowCountConfig

    def observe(self, partial: dict[str, Any], batch: pa.RecordBatch) -> None:
        """Nothing per batch: the partial's `rows` is the count."""

    def combine(self, partials: list[dict[str, Any]]) -> CheckOutcome:
        rows = sum(p["rows"] for p in partials)
        lo, hi = self.config.min, self.config.max
        if lo is not None and rows < lo:
            return self.outcome(rows, 1, [], f"{rows:,} row(s) loaded, fewer than min {lo:,}")
        if hi is not None and rows > hi:
            return self.outcome(rows, 1, [], f"{rows:,} row(s) loaded, more than max {hi:,}")
        return self.outcome(rows, 0, [])


_AGE = re.compile(r"(\d+)\s*(s|m|h|d)")


def parse_age(text: str) -> dt.timedelta:
    """`90m`, `6h`, `2d` → a timedelta."""
    m = _AGE.fullmatch(text.strip())
    if not m:
        raise ValueError(f"'{text}' is not an age; write a number with s, m, h or d, e.g. 6h")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
    return dt.timedelta(**{unit: int(m.group(1))})


class FreshnessConfig(CheckConfig):
    column: str = Field(description="a timestamp column")
    max_age: str = Field(description="the newest value must be at most this old, e.g. 6h")

    def model_post_init(self, __context: Any) -> None:
        parse_age(self.max_age)


class Freshness(Check):
    """`freshness: {column: updated_at, max_age: 6h}`: the newest value is recent enough
    (a naive timestamp is taken as UTC)."""

    config_model = FreshnessConfig

    def columns(self) -> list[str]:
        return [self.config.column]

    def observe(self, partial: dict[str, Any], batch: pa.RecordBatch) -> None:
        column = batch.column(self.config.column)
        if not (pa.types.is_timestamp(column.type) or pa.types.is_date(column.type)):
            raise ValueError(
                f"freshness: column '{self.config.column}' is {column.type}, not a timestamp"
            )
        top = pc.max(column).as_py()
        if top is None:
            return
        if isinstance(top, dt.datetime):
            top = top if top.tzinfo else top.replace(tzinfo=dt.UTC)
        else:
            top = dt.datetime.combine(top, dt.time(), tzinfo=dt.UTC)
        seen = partial.get("max")
        if seen is None or top > dt.datetime.fromisoformat(seen):
            partial["max"] = top.isoformat()

    def combine(self, partials: list[dict[str, Any]]) -> CheckOutcome:
        rows = sum(p["rows"] for p in partials)
        tops = [dt.datetime.fromisoformat(p["max"]) for p in partials if p.get("max")]
        if not tops:
            return self.outcome(rows, 1, [], f"no value in '{self.config.column}' at all")
        newest = max(tops)
        age = dt.datetime.now(dt.UTC) - newest
        limit = parse_age(self.config.max_age)
        if age > limit:
            return self.outcome(
                rows,
                1,
                [],
                f"the newest {self.config.column} is {newest.isoformat()}, "
                f"{_age(age)} old, more than max_age {self.config.max_age}",
            )
        return self.outcome(rows, 0, [])


def _age(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f}h" if hours < 48 else f"{hours / 24:.1f}d"


# -- unique --------------------------------------------------------------------------------


class UniqueConfig(CheckConfig):
    columns: list[str] = Field(min_length=1, description="the key columns, together unique")
    spill: str | None = Field(
        default=None,
        description="a local folder for the spilled keys; on a multi-machine Dask "
        "cluster a folder every worker and the driver share (default: the OS temp dir)",
    )
    buckets: int = Field(
        default=64,
        ge=1,
        le=4096,
        description="parts the spilled keys are split into; the driver holds one at a time",
    )


class Unique(Check):
    """`unique: [id]`: no two rows of the run (across all units) share the key; rows with a
    NULL in the key are not compared. Memory-bounded: see docs/checks.md."""

    config_model = UniqueConfig

    @classmethod
    def normalize(cls, value: Any) -> Any:
        return _columns_form(value)

    def columns(self) -> list[str]:
        return list(self.config.columns)

    def __init__(self, config: Any, label: str = "") -> None:
        super().__init__(config, label)
        # Made in the driver's process: a unit that runs there (not in a Dask worker
        # process) may keep its keys in memory, where the driver's combine finds them.
        self.driver_pid = os.getpid()

    def start(self, scope: UnitScope) -> dict[str, Any]:
        from hygge_core.uniqueness import hold_for

        base = self.config.spill or tempfile.gettempdir()
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{scope.flow}")
        folder = os.path.join(
            base, "hygge_staging", "checks", safe, scope.run_id, self.label_safe, f"{scope.seq}"
        )
        # An explicit spill folder means the keys go there (a folder the driver shares).
        local = self.config.spill is None and os.getpid() == self.driver_pid
        hold = hold_for(scope.memory) if local else 0
        return {"rows": 0, "failed": 0, "examples": [], "dir": folder, "hold": hold}

    @property
    def label_safe(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]", "_", self.label)

    def observe(self, partial: dict[str, Any], batch: pa.RecordBatch) -> None:
        from hygge_core.uniqueness import spill

        spill(partial, batch, self.config.columns, self.config.buckets, partial.get("hold", 0))

    def finish(self, partial: dict[str, Any]) -> None:
        from hygge_core.uniqueness import close_spill

        close_spill(partial, self.config.buckets)

    def usable(self, partial: dict[str, Any]) -> bool:
        from hygge_core.uniqueness import holds

        return holds(partial["dir"]) or os.path.isdir(partial["dir"]) or partial["rows"] == 0

    def combine(self, partials: list[dict[str, Any]]) -> CheckOutcome:
        from hygge_core.uniqueness import duplicates

        rows = sum(p["rows"] for p in partials)
        failed, examples = duplicates(
            [p["dir"] for p in partials], self.config.columns, self.config.buckets, EXAMPLES
        )
        detail = f"{failed:,} of {rows:,} row(s) repeat the key of another row" if failed else ""
        return self.outcome(rows, failed, examples, detail)

    def cleanup(self, partials: list[dict[str, Any]]) -> None:
        # The run's whole folder: units that failed (whose partials never came back)
        # spilled beside the others.
        from hygge_core.uniqueness import release

        for run in {os.path.dirname(os.path.dirname(p["dir"])) for p in partials}:
            release(run)
            shutil.rmtree(run, ignore_errors=True)


__all__ = [
    "Check",
    "CheckConfig",
    "CheckOutcome",
    "UnitScope",
    "record_failures",
]
