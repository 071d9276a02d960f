"""MariaDB and MySQL through PyMySQL (`hygge-sql[mysql]`).

Reads stream through a server-side cursor; loads use multi-row INSERTs. DDL commits on its
own here, so hygge creates or alters the target just before the data transaction, and drops
staging tables just after it. Every session runs in UTC with utf8mb4 text.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection

from hygge_core import PermanentError
from hygge_sql.backends.base import Backend, query_text
from hygge_sql.config import TableName
from hygge_sql.errors import guarded
from hygge_sql.types import Column, decimal_type

_UNSIGNED = {8: pa.uint8(), 16: pa.uint16(), 24: pa.uint32(), 32: pa.uint32(), 64: pa.uint64()}
_SIGNED = {8: pa.int8(), 16: pa.int16(), 24: pa.int32(), 32: pa.int32(), 64: pa.int64()}


class MysqlBackend(Backend):
    """MariaDB 10.5+ and MySQL 8."""

    name = "mysql"
    transactional_ddl = False
    table_kwargs = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}

    def arrow_type(self, sql_type: Any) -> tuple[pa.DataType, bool]:
        if isinstance(sql_type, mysql.TINYINT) and getattr(sql_type, "display_width", None) == 1:
            return pa.bool_(), False  # TINYINT(1) is how MySQL spells BOOLEAN
        if isinstance(sql_type, sa.Integer):
            widths: dict[type, int] = {
                mysql.TINYINT: 8,
                mysql.SMALLINT: 16,
                mysql.MEDIUMINT: 24,
                mysql.BIGINT: 64,
            }
            width = widths.get(type(sql_type), 32)
            unsigned = getattr(sql_type, "unsigned", False)
            return (_UNSIGNED if unsigned else _SIGNED)[width], False
        if isinstance(sql_type, mysql.YEAR):
            return pa.int16(), False
        if isinstance(sql_type, mysql.DOUBLE):
            return pa.float64(), False
        if isinstance(sql_type, mysql.FLOAT | mysql.REAL):
            precision = getattr(sql_type, "precision", None)
            return (pa.float64() if precision and precision > 24 else pa.float32()), False
        if isinstance(sql_type, sa.Numeric) and not isinstance(sql_type, sa.Float):
            return decimal_type(sql_type.precision, sql_type.scale)
        return super().arrow_type(sql_type)

    def read_expr(self, expr: sa.ColumnElement[Any], column: Column) -> sa.ColumnElement[Any]:
        if pa.types.is_float32(column.arrow):
            # The text protocol prints FLOAT with 6 digits; as a DOUBLE it prints exactly.
            # (CAST(... AS DOUBLE) is missing before MySQL 8.0.17; `* 1e0` keeps -0.0.)
            return (expr * sa.literal_column("1e0")).label(column.name)
        return super().read_expr(expr, column)

    def storage_arrow(self, t: pa.DataType) -> pa.DataType:
        if pa.types.is_timestamp(t) and t.tz:
            return pa.timestamp("us")  # DATETIME has no zone: the UTC wall time is stored
        return t

    def ddl_type(self, t: pa.DataType) -> Any:
        if pa.types.is_integer(t):
            kind = {8: mysql.TINYINT, 16: mysql.SMALLINT, 32: mysql.INTEGER}.get(
                t.bit_width, mysql.BIGINT
            )
            return kind(unsigned=pa.types.is_unsigned_integer(t))
        if pa.types.is_boolean(t):
            return mysql.TINYINT(display_width=1)
        if pa.types.is_float32(t) or pa.types.is_float16(t):
            return mysql.FLOAT()
        if pa.types.is_floating(t):
            return mysql.DOUBLE()
        if pa.types.is_decimal(t):
            if t.precision > 65:
                raise PermanentError(f"MariaDB/MySQL decimals hold at most 65 digits, not {t}")
            return mysql.DECIMAL(t.precision, t.scale)
        if pa.types.is_timestamp(t):
            return mysql.DATETIME(fsp=6)
        if pa.types.is_time(t):
            return mysql.TIME(fsp=6)
        if pa.types.is_date(t):
            return sa.Date()
        if pa.types.is_binary(t):
            return mysql.LONGBLOB()
        return mysql.LONGTEXT()

    def key_type(self, t: pa.DataType) -> Any:
        # LONGTEXT and LONGBLOB cannot be a primary key: keys get 255 characters or bytes.
        if pa.types.is_string(t):
            return mysql.VARCHAR(255)
        if pa.types.is_binary(t):
            return mysql.VARBINARY(255)
        return self.ddl_type(t)

    def query_columns(self, conn: Connection, query: str, sample: int) -> list[Column]:
        """An empty temporary table made from the query, reflected, then dropped: it has the
        exact column types (unsigned, decimal precision, TINYINT(1))."""
        name = f"_hygge_q_{secrets.token_hex(6)}"
        quoted = conn.dialect.identifier_preparer.quote(name)
        conn.execute(
            sa.text(
                f"CREATE TEMPORARY TABLE {quoted} AS SELECT * FROM ({query_text(query)}) AS q "
                "LIMIT 0"
            )
        )
        try:
            found = self.table_columns(conn, TableName(name))
        finally:
            conn.execute(sa.text(f"DROP TEMPORARY TABLE IF EXISTS {quoted}"))
        assert found is not None
        return found

    def upsert(
        self, target: sa.Table, names: list[str], keys: list[str], source: sa.Select[Any]
    ) -> Any:
        stmt = mysql.insert(target).from_select(names, source)
        others = [n for n in names if n not in keys] or keys[:1]
        return stmt.on_duplicate_key_update({n: stmt.inserted[n] for n in others})

    def widen(self, table: sa.Table, column: str, new_type: Any, dialect: Any) -> str:
        preparer = dialect.identifier_preparer
        return (
            f"ALTER TABLE {preparer.format_table(table)} MODIFY COLUMN "
            f"{preparer.quote(column)} {new_type.compile(dialect=dialect)}"
        )

    @contextlib.contextmanager
    def lock(self, key: str, what: str) -> Iterator[None]:
        """A named lock (GET_LOCK), held on its own connection for the whole run."""
        name = "hygge_" + hashlib.sha256(key.encode()).hexdigest()[:40]
        with guarded(what):
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            with guarded(what):
                got = conn.execute(sa.select(sa.func.get_lock(name, 0))).scalar()
            if got != 1:
                raise PermanentError(
                    f"{what}: another hygge run of this flow is writing this table; "
                    "wait for it to finish"
                )
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    conn.execute(sa.select(sa.func.release_lock(name)))
        finally:
            conn.close()
