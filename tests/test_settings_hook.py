"""`hygge_register_settings`: a plugin owns a top-level section of flows.yaml, validated by
hygge with file:line errors and handed to the lifecycle hooks in `RunEvent.settings`."""

from __future__ import annotations

import json
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import run_cli
from tests.test_plugins import env_with, make_dist

ALERTS = """
    import pathlib

    from pydantic import BaseModel, ConfigDict

    from hygge_core import hookimpl


    class Alerts(BaseModel):
        model_config = ConfigDict(extra="forbid")
        channel: str
        out: str


    @hookimpl
    def hygge_register_settings(register):
        register("alerts", Alerts)


    @hookimpl
    def hygge_run_finished(event):
        alerts = event.settings.get("alerts")
        if alerts is not None:
            seen = [[r.name, r.status, r.home_type, r.store_type] for r in event.results]
            pathlib.Path(alerts.out).write_text(f"{alerts.channel} {seen}")
    """


def flows_file(tmp_path: pathlib.Path, top: str) -> pathlib.Path:
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "a.parquet")
    path = tmp_path / "flows.yaml"
    path.write_text(f"{top}flows:\n  f:\n    home: a.parquet\n    store: out/\n")
    return path


def test_a_registered_section_reaches_the_hooks_validated(tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    make_dist(site, "hygge-alerts", "hygge_alerts_mod", ALERTS)
    out = tmp_path / "seen.txt"
    flows_file(tmp_path, f"alerts:\n  channel: ops\n  out: {out}\n")
    done = run_cli("run", "flows.yaml", cwd=tmp_path, env=env_with(site))
    assert done.code == 0, done.text
    assert out.read_text() == "ops [['f', 'ok', 'parquet', 'parquet']]"
    listed = json.loads(run_cli("plugins", "--json", env=env_with(site)).out)
    alerts = next(p for p in listed["plugins"] if p["distribution"] == "hygge-alerts")
    assert "hygge_register_settings" in alerts["hooks"]


def test_a_bad_field_of_a_section_is_reported_at_its_line(tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    make_dist(site, "hygge-alerts", "hygge_alerts_mod", ALERTS)
    flows_file(tmp_path, "alerts:\n  chanel: ops\n  out: x\n")
    done = run_cli("run", "flows.yaml", cwd=tmp_path, env=env_with(site))
    assert done.code == 2, done.text
    assert (
        "flows.yaml:2:3: section 'alerts' → field 'chanel': unknown field 'chanel'\n"
        "    hint: did you mean 'channel'?"
    ) in done.err
    assert "Traceback" not in done.text


def test_an_unknown_section_gets_a_close_match_among_plugin_sections(
    tmp_path: pathlib.Path,
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    make_dist(site, "hygge-alerts", "hygge_alerts_mod", ALERTS)
    flows_file(tmp_path, "alert: {channel: ops, out: x}\n")
    done = run_cli("validate", "flows.yaml", cwd=tmp_path, env=env_with(site))
    assert done.code == 2, done.text
    assert "flows.yaml:1:1: field 'alert': unknown field 'alert'" in done.err
    assert "hint: did you mean 'alerts'?" in done.err


def test_metrics_without_the_plugin_names_the_distribution(tmp_path: pathlib.Path) -> None:
    flows_file(tmp_path, "metrics: {textfile: hygge.prom}\n")
    done = run_cli(
        "validate", "flows.yaml", cwd=tmp_path, env={"HYGGE_LOAD_PLUGINS": "hygge-parquet"}
    )
    assert done.code == 2, done.text
    assert "hint: the 'metrics:' section needs a plugin: pip install hygge-metrics" in done.err


def test_a_section_hygge_owns_cannot_be_registered(tmp_path: pathlib.Path) -> None:
    make_dist(
        tmp_path,
        "hygge-grabby",
        "hygge_grabby_mod",
        """
        from pydantic import BaseModel
        from hygge_core import hookimpl

        @hookimpl
        def hygge_register_settings(register):
            register("flows", BaseModel)
        """,
    )
    result = run_cli("plugins", "--json", env=env_with(tmp_path))
    assert result.code == 0, result.text
    assert json.loads(result.out)["broken"] == [
        {
            "distribution": "hygge-grabby",
            "version": "1.2.3",
            "error": "ValueError: the flows.yaml section 'flows' already belongs to hygge-core",
        }
    ]
