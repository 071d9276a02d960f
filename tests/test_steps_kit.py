"""The kit's TransformContract and CheckContract, proven against every built-in transform
and check (as fsspec's abstract tests are proven against its memory filesystem)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from hygge_core.testing import CheckContract, TransformContract

TRANSFORMS: dict[str, Any] = {
    "select": ["id", "string"],
    "drop": ["binary"],
    "rename": {"case": "upper"},
    "cast": {"columns": {"int32": "int64", "string": "int64"}, "on_error": "null"},
    "filter": "int64 > 0 or string is null",
    "derive": {"twice": "float64 * 2", "label": "lower(string) || '!'"},
    "constant": {"source": "kit"},
    "hash": {"column": "key", "columns": ["id", "string", "decimal", "timestamp_tz"]},
    "mask": {"columns": ["string"], "method": "hash"},
    "load_metadata": True,
}
CHECKS: dict[str, Any] = {
    "not_null": ["string", "int64"],
    "unique": ["int32"],
    "accepted_values": {"column": "bool", "values": [True]},
    "range": {"column": "float64", "min": -1, "max": 1},
    "regex": {"column": "string", "pattern": "^h"},
    "row_count": {"min": 10},
    "freshness": {"column": "timestamp_tz", "max_age": "1d"},
    "expression": "int64 >= 0",
}


def transform_case(name: str) -> type:
    class Case(TransformContract):
        @pytest.fixture
        def options(self) -> Any:
            return TRANSFORMS[name]

    Case.name = name
    return Case


def check_case(name: str) -> type:
    class Case(CheckContract):
        @pytest.fixture
        def options(self) -> Any:
            return CHECKS[name]

    Case.name = name
    return Case


for _name in TRANSFORMS:
    globals()[f"TestTransform_{_name}"] = transform_case(_name)
for _name in CHECKS:
    globals()[f"TestCheck_{_name}"] = check_case(_name)


class TestUniqueSpill(CheckContract):
    """The unique check with one bucket: every key in one spill file per unit."""

    name: ClassVar[str] = "unique"

    @pytest.fixture
    def options(self, tmp_path: Any) -> Any:
        return {"columns": ["string"], "buckets": 1, "spill": str(tmp_path)}
