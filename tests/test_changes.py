"""The change-log convention: `latest_changes` keeps each key's last change, in order."""

from __future__ import annotations

import pyarrow as pa
import pytest

from hygge_core.changes import OP, ORDER, is_change_log, latest_changes


def log(rows: list[tuple[int, str, int, int]]) -> pa.Table:
    ids, ops, lsns, seqs = zip(*rows, strict=True)
    return pa.table({"id": list(ids), OP: list(ops), ORDER[0]: list(lsns), ORDER[1]: list(seqs)})


def test_the_last_change_of_each_key_wins_in_change_order() -> None:
    changes = log(
        [
            (1, "update", 30, 0),
            (1, "insert", 10, 0),
            (2, "insert", 10, 1),
            (2, "delete", 20, 0),
            (3, "insert", 20, 1),
        ]
    )
    got = latest_changes(changes, ["id"])
    assert list(zip(got["id"].to_pylist(), got[OP].to_pylist(), strict=True)) == [
        (2, "delete"),
        (3, "insert"),
        (1, "update"),
    ]
    assert is_change_log(changes.schema) and not is_change_log(pa.schema([("id", pa.int64())]))


def test_a_log_without_order_columns_is_refused() -> None:
    with pytest.raises(ValueError, match="a change log needs column"):
        latest_changes(pa.table({"id": [1], OP: ["insert"]}), ["id"])
