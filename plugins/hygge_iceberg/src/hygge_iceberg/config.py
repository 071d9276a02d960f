"""The flows.yaml options of the Iceberg home and store, and the catalog they share."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hygge_core import HomeConfig, StoreConfig

_PARTITION = re.compile(
    r"^\s*(?:(?P<fn>year|month|day|hour)\((?P<col1>[^(),]+)\)"
    r"|(?P<param>bucket|truncate)\((?P<n>\d+)\s*,\s*(?P<col2>[^(),]+)\)"
    r"|(?P<col>[^(),]+))\s*$"
)


class CatalogConfig(BaseModel):
    """`catalog:` — where the table's metadata pointer lives."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["sql", "rest"] = Field(default="sql", description="sql or rest")
    uri: str | None = Field(
        default=None,
        description="sql: a SQLAlchemy URL (sqlite:///..., postgresql+psycopg://...); "
        "rest: the catalog's http(s) URL",
    )
    warehouse: str | None = Field(default=None, description="where new tables' files go")
    name: str = Field(default="hygge", description="the catalog's name (sql: its rows' key)")
    properties: dict[str, str] = Field(
        default_factory=dict,
        description="more pyiceberg catalog properties (credential, token, s3.*): use ${VAR}",
    )


class _IcebergCommon(BaseModel):
    table: str = Field(description="the table: namespace.name")
    warehouse: str | None = Field(
        default=None,
        description="a folder (or s3:// URL) holding an embedded SQLite catalog and the tables",
    )
    catalog: CatalogConfig | None = Field(default=None, description="a SQL or REST catalog")
    connection: str | None = Field(default=None, description="a named storage connection")
    # A relative warehouse folder is relative to the flows.yaml's folder.
    path_fields: ClassVar[tuple[str, ...]] = ("warehouse",)

    @field_validator("table")
    @classmethod
    def _qualified(cls, value: str) -> str:
        if "." not in value.strip(".") or not all(value.split(".")):
            raise ValueError("table must be namespace.name, e.g. analytics.orders")
        return value

    @model_validator(mode="after")
    def _where(self) -> _IcebergCommon:
        if self.warehouse is None and (self.catalog is None or self.catalog.uri is None):
            raise ValueError(
                "set warehouse: (a folder for an embedded catalog) or catalog: {uri: ...}"
            )
        return self


class IcebergStoreConfig(_IcebergCommon, StoreConfig):
    """`store: {type: iceberg, ...}`."""

    partition_by: list[str] | None = Field(
        default=None,
        description="partition fields of a new table: col, year(col), month(col), day(col), "
        "hour(col), bucket(N, col), truncate(W, col)",
    )
    compression: Literal["snappy", "zstd", "gzip", "brotli", "lz4", "none"] = Field(
        default="zstd", description="codec of the data files"
    )
    row_group_rows: int = Field(default=131_072, ge=1, description="rows per row group")
    file_rows: int = Field(default=10_000_000, ge=1, description="rows per data file at most")
    table_properties: dict[str, str] = Field(
        default_factory=dict, description="Iceberg table properties of a new table"
    )

    @field_validator("partition_by")
    @classmethod
    def _known_transforms(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            if not _PARTITION.match(item):
                raise ValueError(
                    f"partition_by entry '{item}' is not a column or one of year(col), "
                    "month(col), day(col), hour(col), bucket(N, col), truncate(W, col)"
                )
        return value


class IcebergHomeConfig(_IcebergCommon, HomeConfig):
    """`home: {type: iceberg, ...}`."""

    snapshot_id: int | None = Field(default=None, description="read this snapshot (time travel)")
    columns: list[str] | None = Field(default=None, description="read only these columns")
    filter: str | None = Field(
        default=None,
        description="rows to read, in pyiceberg's expression syntax, e.g. \"region = 'eu'\"",
    )
    batch_rows: int = Field(default=131_072, ge=1, description="rows per record batch")
    incremental_by: Literal["snapshot"] | None = Field(
        default=None,
        description="snapshot: read only the data files appended since the snapshot the "
        "flow committed last (the snapshot id is kept in the flow's state)",
    )

    @model_validator(mode="after")
    def _one_kind_of_increment(self) -> IcebergHomeConfig:
        if self.incremental_by is not None and self.snapshot_id is not None:
            raise ValueError(
                "incremental_by: snapshot reads up to the current snapshot; remove "
                "snapshot_id: (time travel) or incremental_by:"
            )
        if self.incremental_by is not None and self.incremental is not None:
            raise ValueError("set incremental: {cursor: ...} or incremental_by: snapshot, not both")
        return self


def parse_partition(item: str) -> tuple[str, str, int | None]:
    """`day(ts)` → ("ts", "day", None); `bucket(16, id)` → ("id", "bucket", 16)."""
    m = _PARTITION.match(item)
    assert m is not None  # checked by the config model
    if m["fn"]:
        return m["col1"].strip(), m["fn"], None
    if m["param"]:
        return m["col2"].strip(), m["param"], int(m["n"])
    return m["col"].strip(), "identity", None
