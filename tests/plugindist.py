"""Plugins made up by tests, found through the `hygge` entry point without pip, and the
kit run against them in a pytest subprocess."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET


def fake_install(folder: pathlib.Path, dist: str, entry_points: dict[str, str]) -> None:
    """Make the modules in `folder` a distribution `dist` with `hygge` entry points (name →
    module), for a process that has `folder` on its PYTHONPATH: a `*.dist-info` folder is
    all `importlib.metadata` looks for."""
    info = folder / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {module}\n" for name, module in entry_points.items())
    (info / "entry_points.txt").write_text("[hygge]\n" + lines)


def run_kit(
    tests: pathlib.Path, path: list[pathlib.Path], select: str | None = None
) -> tuple[dict[str, dict[str, str]], str]:
    """Run pytest on `tests` with `path` on PYTHONPATH; returns ({test class: {check:
    "passed" | "failed" | "skipped"}} from its JUnit report, the output's tail)."""
    report = tests.parent / f"{tests.stem}-report.xml"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*map(str, path), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("HYGGE_LOAD_PLUGINS", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *(["-k", select] if select else []),
            f"--junitxml={report}",
            f"--rootdir={tests.parent}",
            str(tests),
        ],
        cwd=tests.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert report.exists(), output
    outcomes: dict[str, dict[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        cls = case.get("classname", "").rsplit(".", 1)[-1]
        status = "passed"
        if case.find("failure") is not None or case.find("error") is not None:
            status = "failed"
        elif case.find("skipped") is not None:
            status = "skipped"
        outcomes.setdefault(cls, {})[case.get("name", "")] = status
    assert outcomes, output
    return outcomes, output
