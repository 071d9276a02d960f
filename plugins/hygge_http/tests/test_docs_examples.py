"""The flows.yaml examples of docs/http.md are valid as written."""

from __future__ import annotations

import pathlib
import re

import pytest

from hygge_core.testing import run_cli

PAGE = pathlib.Path(__file__).resolve().parents[3] / "docs" / "http.md"
EXAMPLES = [b for b in re.findall(r"```yaml\n(.*?)```", PAGE.read_text(), re.S) if "flows:" in b]


@pytest.mark.parametrize("n", range(len(EXAMPLES)))
def test_example_validates(tmp_path: pathlib.Path, n: int) -> None:
    path = tmp_path / "flows.yaml"
    path.write_text(EXAMPLES[n])
    env = {"GITHUB_TOKEN": "ghp_example", "CRM_KEY": "k3y-example"}
    done = run_cli("validate", str(path), cwd=tmp_path, env=env)
    assert done.code == 0, done.text
