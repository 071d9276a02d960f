"""What users write under `home:` and `store:` for the `csv` and `jsonl` types."""

from __future__ import annotations

import codecs
from typing import Literal

from pydantic import Field, field_validator

from hygge_core.files import FileHomeConfig, HiveStoreConfig
from hygge_csv.columns import parse_type

Compression = Literal["infer", "none", "gzip", "bz2", "zstd", "lz4"]


def one_character(value: str | None) -> str | None:
    """Delimiters, quotes and escapes are single characters."""
    if value is not None and len(value) != 1:
        raise ValueError(f"must be one character, got {value!r}")
    return value


def known_encoding(value: str) -> str:
    """An encoding Python knows, so a typo fails at validation, not mid-file."""
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"unknown encoding '{value}' (try utf-8, latin-1, cp1252)") from None
    return value


class TextHomeConfig(FileHomeConfig):
    """Options both text homes share (`path` and `connection` come from `FileHomeConfig`)."""

    columns: dict[str, str] | None = Field(
        default=None,
        description="name → type of the columns to read, in order (default: infer the types)",
    )
    compression: Compression = Field(
        default="infer", description="codec of the files; infer: from the suffix (.gz, .zst)"
    )
    encoding: str = Field(default="utf-8", description="character encoding of the files")
    block_size: int = Field(
        default=4 << 20, ge=4096, description="bytes parsed at a time (one record batch)"
    )

    @field_validator("columns")
    @classmethod
    def _known_types(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, text in (value or {}).items():
            try:
                parse_type(str(text))
            except ValueError as exc:
                raise ValueError(f"column '{name}': {exc}") from None
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        return known_encoding(value)


class CsvHomeConfig(TextHomeConfig):
    """`home: {type: csv, ...}`."""

    delimiter: str | None = Field(
        default=None, description="field separator; default ',' (a tab for .tsv files)"
    )
    header: bool = Field(default=True, description="the first line names the columns")
    quote_char: str | None = Field(default='"', description="quote character; null: none")
    escape_char: str | None = Field(default=None, description="escape character, if any")
    null_values: list[str] = Field(
        default=[""], description='unquoted values read as NULL (a quoted "" is a string)'
    )
    skip_rows: int = Field(default=0, ge=0, description="lines to skip before the header")

    @field_validator("delimiter", "quote_char", "escape_char")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        return one_character(value)


class JsonlHomeConfig(TextHomeConfig):
    """`home: {type: jsonl, ...}`: one JSON object per line."""


class TextStoreConfig(HiveStoreConfig):
    """Options both text stores share (`partition_by:` and `mode:` from `HiveStoreConfig`)."""

    path: str = Field(
        description="a directory of part files, or one file when the name ends .csv, .jsonl, ..."
    )
    compression: Compression = Field(
        default="infer",
        description="codec of written files; infer: from the file name, none for directories",
    )
    file_rows: int = Field(
        default=10_000_000, ge=1, description="rows per part file at most (directories only)"
    )


class CsvStoreConfig(TextStoreConfig):
    """`store: {type: csv, ...}`."""

    delimiter: str | None = Field(
        default=None, description="field separator; default ',' (a tab for .tsv files)"
    )
    header: bool = Field(default=True, description="write the column names first")
    quoting: Literal["needed", "all_valid", "none"] = Field(
        default="needed",
        description='needed: quote strings (so "" and NULL differ); all_valid; none',
    )
    encoding: str = Field(default="utf-8", description="character encoding to write")

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        return one_character(value)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        return known_encoding(value)


class JsonlStoreConfig(TextStoreConfig):
    """`store: {type: jsonl, ...}`: one JSON object per line, UTF-8."""
