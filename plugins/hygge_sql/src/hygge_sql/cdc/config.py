"""The flows.yaml options of the `postgres_cdc` home."""

from __future__ import annotations

import re

from pydantic import ConfigDict, Field, field_validator, model_validator

from hygge_core import HomeConfig, IncrementalConfig
from hygge_sql.config import SplitConfig, _Target

LSN = "_lsn"
NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class CdcHomeConfig(_Target, HomeConfig):
    """`home: {type: postgres_cdc, ...}`: the changes of one table, from a replication slot."""

    model_config = ConfigDict(extra="forbid")

    table: str = Field(description="the table whose changes to read (schema.table)")
    publication: str | None = Field(
        default=None,
        description="the publication to read (default hygge_<flow>, created FOR TABLE table "
        "on the first run when missing); several flows may share one",
    )
    slot: str | None = Field(
        default=None,
        description="the replication slot, one per flow (default hygge_<flow>); created on "
        "the first run with the initial snapshot",
    )
    snapshot: bool = Field(
        default=True,
        description="on the first run, copy the table as of the slot's creation, then follow "
        "its changes; false: changes only",
    )
    split: SplitConfig | None = Field(
        default=None, description="how to split the initial snapshot (default: by primary key)"
    )
    batch_rows: int = Field(default=131_072, ge=1, description="rows per record batch")
    incremental: IncrementalConfig | None = Field(
        default_factory=lambda: IncrementalConfig(cursor=LSN),
        description="fixed: the committed position is the highest _lsn (do not set)",
    )

    @field_validator("incremental")
    @classmethod
    def _fixed_cursor(cls, value: IncrementalConfig | None) -> IncrementalConfig:
        if value is None or value.cursor != LSN or value.lookback is not None:
            raise ValueError(
                "postgres_cdc keeps its position in _lsn by itself; remove incremental:"
            )
        return value

    @field_validator("publication", "slot")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not NAME.fullmatch(value):
            raise ValueError(
                "use lower-case letters, digits and _ (at most 63, not starting with a digit)"
            )
        return value

    @model_validator(mode="after")
    def _database(self) -> CdcHomeConfig:
        self._one_database()
        return self
