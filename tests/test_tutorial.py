"""The plugin tutorial is hygge-csv: following it from a clean folder gives the real plugin.

Blocks of docs/plugins/tutorial.md marked `# file: PATH` (first line, dropped) or with
`file=PATH` after the fence's language are assembled per file, in order; a later block of
the same file goes on after a blank line (two before a top-level statement, as ruff formats
Python). The result must equal plugins/hygge_csv/ byte for byte, and, written into an empty
folder and pip-installed, it must be found by `hygge`, run the tutorial's flows through the
CLI with the output the page shows, and pass its own kit tests.

Part 11's database store (blocks under `minidb/`) is a package of its own, in no folder of
the repository: written out and put on PYTHONPATH, it must pass its kit tests, the SIGKILL
checks of its commit included (tests/test_kit.py kills two broken variants of it).
"""

from __future__ import annotations

import difflib
import gzip
import importlib.metadata
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.plugindist import fake_install, run_kit

ROOT = pathlib.Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "plugins" / "tutorial.md"
PLUGIN = ROOT / "plugins" / "hygge_csv"
HYGGE = str(pathlib.Path(sys.executable).parent / "hygge")
# Files of the real plugin that the tutorial does not walk through.
NOT_IN_TUTORIAL = {
    "README.md",
    "tests/test_formats.py",
    "tests/test_big.py",
    "tests/test_cloud.py",
    "tests/test_shared_file.py",
    "tests/test_messages.py",
    "tests/test_paced.py",
    "tests/test_parallel.py",
}

FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
MARKER = re.compile(r"^# file: (?P<path>\S+)(?P<continued> \(continued\))?$")


def tutorial_files(text: str) -> dict[str, str]:
    """{relative path: content} assembled from the marked blocks of `text`."""
    parts: dict[str, list[str]] = {}
    for match in FENCE.finditer(text):
        info, body = match.group("info"), match.group("body")
        named = re.search(r"\bfile=(\S+)", info)
        if named:
            path = named.group(1)
        else:
            first, _, rest = body.partition("\n")
            marker = MARKER.match(first)
            if not marker:
                continue
            path, body = marker.group("path"), rest
            assert bool(marker.group("continued")) == (path in parts), (
                f"block of {path}: mark the first block '# file: {path}' and the later ones "
                f"'# file: {path} (continued)'"
            )
        parts.setdefault(path, []).append(body.rstrip("\n"))
    files = {}
    for path, blocks in parts.items():
        text = blocks[0]
        for block in blocks[1:]:
            text += ("\n\n" if block[:1] in (" ", "\t") else "\n\n\n") + block
        files[path] = text + "\n"
    return files


def plugin_files() -> dict[str, str]:
    """The real plugin's source files (caches and build leftovers aside)."""
    found = {}
    for path in sorted(PLUGIN.rglob("*")):
        rel = path.relative_to(PLUGIN).as_posix()
        parts = rel.split("/")
        junk = any(p.startswith((".", "__pycache__")) or p.endswith(".egg-info") for p in parts)
        if path.is_dir() or junk or parts[0] in ("build", "dist"):
            continue
        found[rel] = path.read_text()
    return found


@pytest.fixture(scope="module")
def assembled() -> dict[str, str]:
    return tutorial_files(TUTORIAL.read_text())


def test_tutorial_blocks_are_the_real_plugin(assembled: dict[str, str]) -> None:
    real = plugin_files()
    code = {p: t for p, t in assembled.items() if not p.startswith(("example/", "minidb/"))}
    problems = []
    for path, text in code.items():
        if path not in real:
            problems.append(f"{path}: in the tutorial, not in plugins/hygge_csv/")
        elif real[path] != text:
            diff = difflib.unified_diff(
                real[path].splitlines(),
                text.splitlines(),
                f"plugins/hygge_csv/{path}",
                f"tutorial: {path}",
                lineterm="",
            )
            problems.append("\n".join(list(diff)[:40]))
    for path in sorted(set(real) - set(code) - NOT_IN_TUTORIAL):
        problems.append(f"{path}: in plugins/hygge_csv/, not in the tutorial")
    assert not problems, "the tutorial and hygge-csv drifted apart:\n" + "\n\n".join(problems)


def test_every_marked_block_is_well_formed(assembled: dict[str, str]) -> None:
    for path, text in assembled.items():
        if path.endswith(".py"):
            compile(text, path, "exec")  # a syntax error names the file and line
    assert {"pyproject.toml", "src/hygge_csv/plugin.py", "tests/test_contract.py"} <= set(assembled)


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def offline_build_flags() -> list[str]:
    """`--no-build-isolation` (fast, no download) when this venv can build a wheel itself."""
    probe = (
        "import setuptools\n"
        "if tuple(map(int, setuptools.__version__.split('.')[:2])) < (70, 1):\n"
        "    import wheel\n"
    )
    ok = subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0
    return ["--no-build-isolation"] if ok else []


def editable_source(dist: str) -> str | None:
    """The folder `dist` is installed from in editable mode, if it is."""
    try:
        text = importlib.metadata.distribution(dist).read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    info = json.loads(text)
    if not info.get("dir_info", {}).get("editable"):
        return None
    return info["url"].removeprefix("file://")


@pytest.fixture(scope="module")
def installed(assembled: dict[str, str], tmp_path_factory) -> Iterator[pathlib.Path]:
    """The tutorial's package, written into an empty folder and pip-installed in place of
    hygge-csv; the previous installation is put back afterwards, pass or fail."""
    root = tmp_path_factory.mktemp("tutorial")
    for path, text in assembled.items():
        if path.startswith("minidb/"):
            continue
        target = root / ("hygge-csv" if not path.startswith("example/") else "") / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    before = editable_source("hygge-csv")
    try:
        done = pip("install", "--no-deps", *offline_build_flags(), str(root / "hygge-csv"))
        assert done.returncode == 0, done.stdout + done.stderr
        yield root
    finally:
        if before:
            pip("install", "--no-deps", *offline_build_flags(), "-e", before)
        else:
            pip("uninstall", "-y", "hygge-csv")


def run(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def test_the_installed_package_is_the_tutorials(installed: pathlib.Path) -> None:
    where = run(sys.executable, "-c", "import hygge_csv; print(hygge_csv.__file__)", cwd=installed)
    assert where.returncode == 0, where.stderr
    assert not where.stdout.strip().startswith(str(PLUGIN)), "still the repository's copy"
    listing = json.loads(run(HYGGE, "plugins", "--json", cwd=installed).stdout)
    mine = next(p for p in listing["plugins"] if p["distribution"] == "hygge-csv")
    assert mine["homes"] == ["csv", "jsonl"] and mine["stores"] == ["csv", "jsonl"]


def test_the_tutorials_flows_run_with_the_output_it_shows(installed: pathlib.Path) -> None:
    example = installed / "example"
    for flow in ("import", "export"):
        done = run(HYGGE, "run", "flows.yaml", "--flow", flow, cwd=example)
        assert done.returncode == 0, done.stderr
        assert f"[{flow}] committed 3 rows" in done.stderr
    shown = TUTORIAL.read_text().split("$ zcat out/users.jsonl.gz\n", 1)[1].split("```")[0]
    written = gzip.decompress((example / "out" / "users.jsonl.gz").read_bytes()).decode()
    assert written == shown


def test_the_tutorials_kit_tests_pass(installed: pathlib.Path) -> None:
    package = installed / "hygge-csv"
    shutil.rmtree(package / "build", ignore_errors=True)
    done = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=package)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert "failed" not in summary and int(summary.split(" passed")[0].split()[-1]) >= 90, summary


def write_minidb(root: pathlib.Path) -> pathlib.Path:
    """The tutorial's hygge-minidb, written under `root/minidb` and registered through a
    fake install; returns the folder to put on PYTHONPATH."""
    for path, text in tutorial_files(TUTORIAL.read_text()).items():
        if path.startswith("minidb/"):
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text)
    src = root / "minidb" / "src"
    fake_install(src, "hygge-minidb", {"minidb": "hygge_minidb.plugin"})
    return src


def test_the_tutorials_database_store_passes_the_kit(tmp_path: pathlib.Path) -> None:
    src = write_minidb(tmp_path)
    outcomes, output = run_kit(tmp_path / "minidb" / "tests" / "test_contract.py", [src])
    checks = outcomes["TestMinidbStore"]
    assert [n for n, s in checks.items() if s == "failed"] == [], output
    for name in (
        "test_sigkill_at_each_commit_step_then_rerun_converges",
        "test_sigkill_at_random_instants_of_commit_then_rerun_converges",
        "test_crash_at_any_step_then_rerun_converges[commit.start]",
        "test_round_trip_is_exact",
    ):
        assert checks[name] == "passed", (name, output)
