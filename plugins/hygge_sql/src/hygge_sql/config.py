"""The flows.yaml options of the SQL home and store, and of `connections:` entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from hygge_core import ConnectionConfig, FlowContext, HomeConfig, PermanentError, StoreConfig


def _check_url(value: str | None) -> str | None:
    """Reject what SQLAlchemy cannot parse, without echoing the URL (it may hold a password)."""
    if value is None:
        return value
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(
            "not a SQLAlchemy database URL; write e.g. sqlite:///data/app.db or "
            "postgresql://user:password@host:5432/dbname"
        ) from None
    except ValueError:  # SQLAlchemy's int() of the port, whose message quotes it
        raise ValueError("the port in the URL is not a number; write e.g. host:5432") from None
    _check_dialect(url.drivername)
    return value


def _check_dialect(drivername: str) -> None:
    """Reject a database SQLAlchemy has no dialect for (`postgresqlx://`) at validate time.

    Only the dialect is loaded, not its driver: a missing driver is an install problem that
    `run` reports with the extra to install.
    """
    import difflib

    from sqlalchemy.engine import URL
    from sqlalchemy.exc import NoSuchModuleError

    from hygge_sql.engines import normalize_url

    try:
        normalize_url(URL.create(drivername)).get_dialect()
    except NoSuchModuleError:
        backend = drivername.partition("+")[0]
        known = ["postgresql", "mysql", "mariadb", "sqlite", "mssql", "oracle"]
        close = difflib.get_close_matches(backend, known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "use one of " + ", ".join(known)
        raise ValueError(f"SQLAlchemy has no database '{drivername}'; {hint}") from None


def relative_sqlite(raw: dict[str, Any], folder: str) -> dict[str, Any]:
    """`raw` with a relative SQLite file (`url: sqlite:///app.db`, or `drivername: sqlite`
    with `database: app.db`) resolved against `folder`, the flows.yaml's folder."""
    import os

    from hygge_core import rebase_path

    if not folder:
        return raw
    url = raw.get("url")
    if isinstance(url, str) and url.startswith("sqlite") and ":///" in url:
        head, rest = url.split(":///", 1)
        path, mark, query = rest.partition("?")
        if path and path != ":memory:" and not path.startswith("file:"):
            return {**raw, "url": f"{head}:///{rebase_path(path, folder)}{mark}{query}"}
    name = raw.get("database")
    sqlite = str(raw.get("drivername", "")).startswith("sqlite")
    if sqlite and isinstance(name, str) and name != ":memory:" and not os.path.isabs(name):
        return {**raw, "database": rebase_path(name, folder)}
    return raw


class SqlConnection(ConnectionConfig):
    """`connections: {name: {type: sql, ...}}`: a database, by URL or by its parts.

    The parts spare users URL-escaping of passwords with `@`, `/` or `:` in them.
    """

    type: Literal["sql"] = Field(default="sql", description="a database connection")
    url: str | None = Field(default=None, description="a SQLAlchemy URL (or the parts below)")
    drivername: str | None = Field(
        default=None, description="postgresql, mysql, mariadb, sqlite, or dialect+driver"
    )
    host: str | None = Field(default=None, description="server host name or address")
    port: int | None = Field(default=None, description="server port")
    username: str | None = Field(default=None, description="user to log in as")
    password: str | None = Field(default=None, description="its password (never printed)")
    database: str | None = Field(default=None, description="database name (SQLite: file path)")
    query: dict[str, str] = Field(
        default_factory=dict, description="URL query options, e.g. {sslmode: require}"
    )

    @classmethod
    def relative_to(cls, raw: dict[str, Any], folder: str) -> dict[str, Any]:
        """A relative SQLite file is relative to the flows.yaml's folder."""
        return relative_sqlite(raw, folder)

    @field_validator("url")
    @classmethod
    def _parse_url(cls, value: str | None) -> str | None:
        return _check_url(value)

    @field_validator("drivername")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is not None:
            _check_dialect(value)
        return value

    @model_validator(mode="after")
    def _url_or_parts(self) -> SqlConnection:
        if (self.url is None) == (self.drivername is None):
            raise ValueError("give either url: or drivername: (with host, database, ...)")
        return self

    def sqlalchemy_url(self) -> Any:
        """The connection as a `sqlalchemy.URL`."""
        from sqlalchemy.engine import URL, make_url

        if self.url is not None:
            return make_url(self.url)
        assert self.drivername is not None
        return URL.create(
            self.drivername,
            username=self.username,
            password=self.password,
            host=self.host,
            port=self.port,
            database=self.database,
            query=self.query,
        )


class _Target(BaseModel):
    """Where a database table is: the fields the home and the store share."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, description="a SQLAlchemy URL, e.g. sqlite:///app.db")
    connection: str | None = Field(default=None, description="a connection under connections:")

    @classmethod
    def relative_to(cls, raw: dict[str, Any], folder: str) -> dict[str, Any]:
        """A relative SQLite file is relative to the flows.yaml's folder."""
        return relative_sqlite(raw, folder)

    schema_name: str | None = Field(
        default=None,
        description="the table's schema, for table names that contain a dot "
        "(default: the part of table before the first dot, else the database's default)",
    )
    pool_size: int | None = Field(
        default=None, ge=1, description="connections kept open per process (default: cores + 4)"
    )

    @field_validator("url")
    @classmethod
    def _parse_url(cls, value: str | None) -> str | None:
        return _check_url(value)

    def _one_database(self) -> None:
        if (self.url is None) == (self.connection is None):
            raise ValueError("give either url: or connection: (a name under connections:)")


@dataclass(frozen=True)
class TableName:
    """A table and its schema (None: the database's default schema)."""

    name: str
    schema: str | None = None

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


def table_name(table: str, schema: str | None) -> TableName:
    """`table: sales.orders` → schema `sales`, table `orders`; with `schema_name:` the
    table is taken whole (for names that contain a dot)."""
    if schema is not None:
        return TableName(table, schema)
    if "." in table:
        first, rest = table.split(".", 1)
        return TableName(rest, first)
    return TableName(table)


class SplitConfig(BaseModel):
    """`split:`: read a table as key ranges in parallel."""

    model_config = ConfigDict(extra="forbid")
    column: str = Field(description="an integer, date or timestamp column to split on")
    units: int | None = Field(
        default=None, ge=1, le=1024, description="work units; default: one per ~1M rows"
    )


class SqlHomeConfig(_Target, HomeConfig):
    """`home: {type: sql, ...}`."""

    model_config = ConfigDict(extra="forbid")

    table: str | None = Field(default=None, description="the table to read (schema.table)")
    query: str | None = Field(default=None, description="a SELECT to read instead of a table")
    columns: list[str] | None = Field(default=None, description="read only these columns")
    batch_rows: int = Field(default=131_072, ge=1, description="rows per record batch")
    split: SplitConfig | Literal[False] | None = Field(
        default=None,
        description="read key ranges in parallel; default: big tables split on their "
        "primary key; false: read in one unit",
    )

    @field_validator("split", mode="wrap")
    @classmethod
    def _split(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # Checked by hand: a union's own errors would list every alternative.
        if isinstance(value, dict):
            return SplitConfig.model_validate(value)  # its errors name split.<field>
        if value is None or value is False or isinstance(value, SplitConfig):
            return handler(value)
        raise PydanticCustomError(
            "split",
            "expected false (read in one unit) or a mapping {column: ..., units: ...}",
        )

    @model_validator(mode="after")
    def _source(self) -> SqlHomeConfig:
        self._one_database()
        if (self.table is None) == (self.query is None):
            raise ValueError("give either table: or query:")
        return self


class SqlStoreConfig(_Target, StoreConfig):
    """`store: {type: sql, ...}`."""

    model_config = ConfigDict(extra="forbid")

    table: str = Field(description="the table to write (schema.table); created if missing")
    batch_rows: int = Field(
        default=50_000, ge=1, description="rows per INSERT batch on databases without a bulk path"
    )
    lossy_floats: bool = Field(
        default=False,
        description="SQLite: store NaN as NULL and -0.0 as 0.0 (SQLite holds neither) "
        "instead of failing the flow",
    )

    @model_validator(mode="after")
    def _database(self) -> SqlStoreConfig:
        self._one_database()
        return self


def resolve_url(config: _Target, context: FlowContext) -> Any:
    """The `sqlalchemy.URL` a home or store connects to (from `url:` or a named connection)."""
    from pydantic import ValidationError

    if config.url is not None:
        from sqlalchemy.engine import make_url

        return make_url(config.url)
    assert config.connection is not None
    raw = context.connection(config.connection)
    try:
        return SqlConnection.model_validate(raw).sqlalchemy_url()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise PermanentError(
            f"connection '{config.connection}': " + (f"{where}: " if where else "") + message
        ) from None
