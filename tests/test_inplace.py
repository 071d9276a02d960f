"""`hygge_core.files.InPlaceRuns`: run markers and cleanup for stores whose files a table
format's log publishes (hygge-delta and hygge-iceberg build on it)."""

from __future__ import annotations

import pathlib

import fsspec

from hygge_core.files import FileCommitter, InPlaceRuns


def runs_at(root: pathlib.Path) -> InPlaceRuns:
    fs = fsspec.filesystem("file")
    committer = FileCommitter(fs, str(root), "f", atomic_rename=True)
    return InPlaceRuns(
        committer,
        meta=str(root / "_hygge" / "t"),
        files=str(root),
        prefix="hygge-t-",
        staging=str(root / "_hygge_staging" / "t"),
        skip=("_log", "_hygge", "_hygge_staging"),
    )


def test_recover_keeps_what_a_committed_run_published_and_drops_the_rest(
    tmp_path: pathlib.Path,
) -> None:
    runs = runs_at(tmp_path)
    for run in ("r1", "r2", "live"):
        runs.mark(run, {"version": run})
        (tmp_path / "p=a").mkdir(exist_ok=True)
        for n in (0, 1):
            (tmp_path / "p=a" / f"hygge-t-{run}-{n}.parquet").write_bytes(b"x")
    (tmp_path / "_hygge_staging" / "t" / "r2").mkdir(parents=True)
    (tmp_path / "_hygge_staging" / "t" / "r2" / "src.parquet").write_bytes(b"x")
    (tmp_path / "other.parquet").write_bytes(b"not ours")
    (tmp_path / "_hygge" / "t" / "runs" / "r3.json.1234.tmp").write_bytes(b"{")
    published = {str(tmp_path / "p=a" / "hygge-t-r1-0.parquet")}
    seen = []

    def keep(run: str, record: dict) -> set[str] | None:
        seen.append((run, record))
        return published if run == "r1" else None

    lines = runs.recover("live", keep)
    assert lines == [
        "removed r3.json.1234.tmp, left by a killed run",
        "run r1 had committed before it stopped; 1 unused data file(s) removed",
        "run r2 never committed; its 2 data file(s) removed",
    ]
    assert seen == [("r1", {"version": "r1"}), ("r2", {"version": "r2"})]
    left = sorted(p.name for p in tmp_path.rglob("*.parquet"))
    assert left == [
        "hygge-t-live-0.parquet",
        "hygge-t-live-1.parquet",
        "hygge-t-r1-0.parquet",
        "other.parquet",
    ]
    assert sorted(p.name for p in (tmp_path / "_hygge" / "t" / "runs").iterdir()) == ["live.json"]
    assert runs.leftovers(published, markers=True) == sorted(
        [
            str(tmp_path / "_hygge" / "t" / "runs" / "live.json"),
            str(tmp_path / "p=a" / "hygge-t-live-0.parquet"),
            str(tmp_path / "p=a" / "hygge-t-live-1.parquet"),
        ]
    )
    runs.forget("live")
    assert runs.recover("other", keep) == []
