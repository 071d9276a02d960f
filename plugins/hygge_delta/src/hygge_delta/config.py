"""The flows.yaml options of the Delta home and store."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hygge_core import HomeConfig, StoreConfig


class DeltaStoreConfig(StoreConfig):
    """`store: {type: delta, ...}`."""

    mode: Literal["append", "replace", "merge", "replace_partitions"] = Field(  # type: ignore[assignment]
        default="append",
        description="append, replace, merge (with keys:) or replace_partitions",
    )
    path: str = Field(description="the table's folder: a local path, s3://... or az://...")
    connection: str | None = Field(default=None, description="a named storage connection")
    partition_by: list[str] | None = Field(
        default=None, description="partition columns of a new table (col=value/ folders)"
    )
    compression: Literal["snappy", "zstd", "gzip", "brotli", "lz4", "none"] = Field(
        default="snappy", description="codec of the data files"
    )
    row_group_rows: int = Field(default=131_072, ge=1, description="rows per row group")
    file_rows: int = Field(
        default=10_000_000, ge=1, description="rows per data file at most (the target size)"
    )
    table_properties: dict[str, str] = Field(
        default_factory=dict,
        description="Delta table properties of a new table, e.g. delta.enableChangeDataFeed",
    )

    @model_validator(mode="after")
    def _replace_partitions_needs_partitions(self) -> DeltaStoreConfig:
        if self.mode == "replace_partitions" and not self.partition_by:
            raise ValueError(
                "mode: replace_partitions needs partition_by: [column, ...] naming the "
                "table's partition columns"
            )
        return self


class DeltaHomeConfig(HomeConfig):
    """`home: {type: delta, ...}`."""

    path: str = Field(description="the table's folder: a local path, s3://... or az://...")
    connection: str | None = Field(default=None, description="a named storage connection")
    version: int | None = Field(
        default=None, ge=0, description="read this table version (time travel)"
    )
    as_of: str | None = Field(
        default=None, description="read the table as of this time (ISO-8601, time travel)"
    )
    columns: list[str] | None = Field(default=None, description="read only these columns")
    filter: list[tuple[str, str, object]] | None = Field(
        default=None,
        description="rows to read: [[column, op, value], ...] all true; op is one of "
        "= != < <= > >= in not in",
    )
    batch_rows: int = Field(default=131_072, ge=1, description="rows per record batch")
    incremental_by: Literal["version"] | None = Field(
        default=None,
        description="version: read the change data feed (inserts, updates, deletes as rows "
        "with _op, _lsn, _seq) of the table versions committed since the one the flow read "
        "last (kept in the flow's state); needs delta.enableChangeDataFeed = true",
    )

    @model_validator(mode="after")
    def _one_time_travel(self) -> DeltaHomeConfig:
        if self.version is not None and self.as_of is not None:
            raise ValueError("set version: or as_of:, not both")
        if self.incremental_by is not None:
            if self.version is not None or self.as_of is not None:
                raise ValueError(
                    "incremental_by: version reads up to the current version; remove "
                    "version:/as_of: (time travel) or incremental_by:"
                )
            if self.incremental is not None:
                raise ValueError(
                    "set incremental: {cursor: ...} or incremental_by: version, not both"
                )
            if self.filter:
                raise ValueError(
                    "filter: cannot be combined with incremental_by: version: an update that "
                    "moves a row out of the filter would never reach the store, which would "
                    "keep the row's old copy; drop filter:"
                )
        return self
