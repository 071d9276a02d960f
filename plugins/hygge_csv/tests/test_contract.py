"""hygge-csv runs the plugin kit: every store layout and both formats."""

from __future__ import annotations

import gzip
import io
import pathlib
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pytest

from hygge_core.testing import HomeContract, StoreContract


def columns_of(schema: pa.Schema) -> dict[str, str]:
    """The `columns:` mapping that declares `schema` exactly."""
    return {f.name: str(f.type) for f in schema}


def published(path: pathlib.Path) -> list[pathlib.Path]:
    """The files a reader of a store sees (hidden `_`/`.` entries left out)."""
    if path.is_file():
        return [path]
    if not path.exists():
        return []
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and not any(part.startswith(("_", ".")) for part in p.relative_to(path).parts)
    )


def read_csv(path: pathlib.Path, schema: pa.Schema, **parse: Any) -> pa.Table:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return pacsv.read_csv(
        io.BytesIO(data),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, **parse),
        convert_options=pacsv.ConvertOptions(
            column_types=schema,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )


def read_jsonl(path: pathlib.Path, schema: pa.Schema) -> pa.Table:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    if not data:
        return schema.empty_table()
    as_text = pa.schema(
        [f.with_type(pa.string()) if pa.types.is_date(f.type) else f for f in schema]
    )
    table = pajson.read_json(
        io.BytesIO(data), parse_options=pajson.ParseOptions(explicit_schema=as_text)
    )
    return table.select(schema.names).cast(schema)


class _TextStore(StoreContract):
    reader = staticmethod(read_csv)

    def read_back(self, store_config: dict[str, Any]) -> pa.Table:
        schema = self.sample(store_config, rows=0).schema
        files = published(pathlib.Path(store_config["path"]))
        tables = [self.reader(p, schema) for p in files]
        return pa.concat_tables(tables) if tables else schema.empty_table()


class TestCsvStoreDirectory(_TextStore):
    @pytest.fixture
    def store_config(self, tmp_path: pathlib.Path) -> dict[str, Any]:
        return {"type": "csv", "path": str(tmp_path / "lake" / "users")}


class TestCsvStoreSingleGzipFile(_TextStore):
    @pytest.fixture
    def store_config(self, tmp_path: pathlib.Path) -> dict[str, Any]:
        return {"type": "csv", "path": str(tmp_path / "out" / "users.csv.gz")}


class TestJsonlStoreDirectory(_TextStore):
    reader = staticmethod(read_jsonl)

    @pytest.fixture
    def store_config(self, tmp_path: pathlib.Path) -> dict[str, Any]:
        return {"type": "jsonl", "path": str(tmp_path / "lake" / "events"), "file_rows": 100}


class TestJsonlStoreSingleFile(_TextStore):
    reader = staticmethod(read_jsonl)

    @pytest.fixture
    def store_config(self, tmp_path: pathlib.Path) -> dict[str, Any]:
        return {"type": "jsonl", "path": str(tmp_path / "out" / "events.jsonl")}


def write_csv(table: pa.Table, path: pathlib.Path) -> None:
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer)
    data = buffer.getvalue()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


class TestCsvHome(HomeContract):
    def home_config(self, table: pa.Table, tmp_path: pathlib.Path) -> dict[str, Any]:
        folder = tmp_path / "home"
        folder.mkdir(exist_ok=True)
        half = table.num_rows // 2
        write_csv(table.slice(0, half), folder / "a.csv")
        write_csv(table.slice(half), folder / "b.csv.gz")  # compression follows the suffix
        return {"type": "csv", "path": str(folder), "columns": columns_of(table.schema)}

    def append_rows(self, config: dict[str, Any], table: pa.Table, tmp_path: pathlib.Path) -> None:
        write_csv(table, pathlib.Path(config["path"]) / "c.csv")


class TestJsonlHome(HomeContract):
    def home_config(self, table: pa.Table, tmp_path: pathlib.Path) -> dict[str, Any]:
        from hygge_csv.jsonlines import encode

        folder = tmp_path / "home"
        folder.mkdir(exist_ok=True)
        half = table.num_rows // 2
        for name, part in (("a.jsonl", table.slice(0, half)), ("b.ndjson", table.slice(half))):
            (folder / name).write_bytes(b"".join(encode(b).to_pybytes() for b in part.to_batches()))
        return {"type": "jsonl", "path": str(folder), "columns": columns_of(table.schema)}

    def append_rows(self, config: dict[str, Any], table: pa.Table, tmp_path: pathlib.Path) -> None:
        from hygge_csv.jsonlines import encode

        data = b"".join(encode(b).to_pybytes() for b in table.to_batches())
        (pathlib.Path(config["path"]) / "c.jsonl").write_bytes(data)
