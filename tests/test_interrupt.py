"""Ctrl-C on `hygge run` (issue 21, point 9): the first SIGINT stops new work, aborts what
was staged, prints the summary and "interrupted" and exits 130 promptly, with nothing
committed; a second SIGINT kills at once, and the next run converges as after any crash."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import hygge_executable

HYGGE = hygge_executable()

FILES, ROWS = 24, 250_000


@pytest.fixture
def big(tmp_path: pathlib.Path) -> pathlib.Path:
    """6M rows in 24 files, read one unit at a time: a flow of many seconds."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(FILES):
        ids = pa.array(range(i * ROWS, (i + 1) * ROWS), pa.int64())
        table = pa.table({"id": ids, "x": pc.multiply(ids, 3), "s": ids.cast(pa.string())})
        pq.write_table(table, src / f"part{i:02d}.parquet", row_group_size=25_000)
    flows = tmp_path / "flows.yaml"
    flows.write_text(
        "flows:\n"
        "  big:\n"
        f"    home: {{type: parquet, path: {src}/}}\n"
        "    store: {type: parquet, path: out/, mode: replace}\n"
        "    parallelism: 1\n"
        "    memory: 8MB\n"
    )
    return flows


def _start(flows: pathlib.Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [HYGGE, "run", str(flows)],
        cwd=flows.parent,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_staging(out: pathlib.Path, proc: subprocess.Popen[str]) -> None:
    """Until the run has staged something (it is moving data), or fail."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(p.suffix == ".parquet" for p in out.rglob("*")):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the run staged nothing in 120 s")


def _published(out: pathlib.Path) -> list[pathlib.Path]:
    """Files readers see: everything outside hygge's own folders."""
    return [p for p in out.rglob("*.parquet") if not any(s.startswith("_hygge") for s in p.parts)]


def test_first_ctrl_c_stops_promptly_and_commits_nothing(big: pathlib.Path) -> None:
    out = big.parent / "out"
    proc = _start(big)
    _wait_for_staging(out, proc)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    seconds = time.monotonic() - sent
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stdout + stderr
    assert seconds < 10, seconds  # generous for a loaded machine; the old code committed all
    assert stderr.endswith("interrupted\n"), stderr
    assert "Ctrl-C again to kill" in stderr
    assert "hygge run summary" in stdout and "big: interrupted: nothing committed" in stdout
    assert _published(out) == []
    staged = [p for p in out.rglob("*") if p.is_file() and "_hygge_staging" in p.parts]
    assert staged == [], staged

    done = subprocess.run(
        [HYGGE, "run", str(big)], cwd=big.parent, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    table = pq.read_table(out)
    assert table.num_rows == FILES * ROWS
    assert pc.sum(table["id"]).as_py() == sum(range(FILES * ROWS))


def test_second_ctrl_c_kills(big: pathlib.Path) -> None:
    out = big.parent / "out"
    # The first batch's staging hangs: the first Ctrl-C cannot end the run.
    proc = _start(big, {"HYGGE_FAULTS": "batch.staged@1=sleep:120"})
    deadline = time.monotonic() + 120
    while not any(out.rglob("*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    time.sleep(1)
    assert proc.poll() is None
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGINT
    assert time.monotonic() - sent < 5
    assert _published(out) == []
