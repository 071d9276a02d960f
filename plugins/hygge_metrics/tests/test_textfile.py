"""The node-exporter textfile: written atomically, read back with prometheus_client."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from prometheus_client.parser import text_string_to_metric_families

from hygge_core.testing import FlowHarness, hygge_imports

from .readback import labels_of, samples


def test_textfile_holds_every_flow_in_the_exposition_format(tmp_path: Path) -> None:
    h = FlowHarness(tmp_path)
    prom = tmp_path / "textfile" / "hygge.prom"
    prom.parent.mkdir()
    flows = {
        "small": {
            "home": h.parquet_source(pa.table({"id": [1, 2, 3]}), "small"),
            "store": h.parquet_sink("small_out"),
        },
        "broken": {
            "home": {"type": "parquet", "path": str(tmp_path / "missing.parquet")},
            "store": h.parquet_sink("broken_out"),
        },
    }
    h.run(flows, metrics={"textfile": str(prom)})
    text = prom.read_text()
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert families["hygge_flow_rows"] == "counter"
    assert families["hygge_flow_duration_seconds"] == "gauge"
    got = samples(text)
    assert got[("hygge_flow_rows_total", "small")] == 3
    assert got[("hygge_flow_failures_total", "broken")] == 1
    assert got[("hygge_flow_failures_total", "small")] == 0
    assert labels_of(text, "hygge_flow_rows_total", "small") == {
        "flow": "small",
        "home_type": "parquet",
        "store_type": "parquet",
    }
    # A second run of one flow adds to its counters and keeps the other flow's series.
    h.run({"small": flows["small"]}, metrics={"textfile": str(prom)})
    again = samples(prom.read_text())
    assert again[("hygge_flow_rows_total", "small")] == 6
    assert again[("hygge_flow_failures_total", "broken")] == 1
    assert [p.name for p in prom.parent.iterdir()] == ["hygge.prom"]  # no temporary left


def test_no_prometheus_client_is_imported_and_the_exporter_only_with_metrics(
    tmp_path: Path,
) -> None:
    """The exposition text is written by the plugin (issue 20's 2% budget): a run never
    loads prometheus_client, and the exporter only when flows.yaml has `metrics:`."""
    h = FlowHarness(tmp_path)
    flows = {
        "small": {
            "home": h.parquet_source(pa.table({"id": [1]}), "small"),
            "store": h.parquet_sink("small_out"),
        }
    }
    watched = ("prometheus_client", "hygge_metrics.export")
    plain = hygge_imports("run", str(h.write(flows)), prefixes=watched)
    assert plain.returncode == 0, plain.stderr
    assert plain.modules == []
    helped = hygge_imports("--help", prefixes=watched)
    assert helped.returncode == 0
    assert helped.modules == []
    prom = tmp_path / "hygge.prom"
    with_metrics = h.write(flows, metrics={"textfile": str(prom)})
    used = hygge_imports("run", str(with_metrics), prefixes=watched)
    assert used.returncode == 0, used.stderr
    assert used.modules == ["hygge_metrics.export"]
    assert samples(prom.read_text())[("hygge_flow_rows_total", "small")] == 1


def test_label_values_are_escaped_and_read_back(tmp_path: Path) -> None:
    """A flow name with a quote, a backslash and a newline: written with the format's
    escapes, read back the same by prometheus_client's parser and by the plugin's own
    reader (which adds the next run's counts to it)."""
    from hygge_metrics.export import _merge, _parse, exposition

    class Result:
        name = 'we"ird\\flow\nname'
        home_type, store_type = "parquet", "sql"
        status, retries, rows, bytes, seconds = "ok", 0, 7, 70, 1.5
        cursor_after = None

    text = exposition(_merge({}, [Result()], 1.7e9))
    assert labels_of(text, "hygge_flow_rows_total", Result.name)["flow"] == Result.name
    assert samples(text)[("hygge_flow_last_success_timestamp_seconds", Result.name)] == 1.7e9
    again = exposition(_merge(_parse(text, {}), [Result()], 1.8e9))
    got = samples(again)
    assert got[("hygge_flow_rows_total", Result.name)] == 14
    assert got[("hygge_flow_runs_total", Result.name)] == 2
    assert got[("hygge_flow_duration_seconds", Result.name)] == 1.5
    families = {f.name: (f.type, f.documentation) for f in text_string_to_metric_families(again)}
    assert families["hygge_flow_rows"] == ("counter", "Rows committed by the flow.")


def test_a_retried_transient_fault_is_counted(tmp_path: Path) -> None:
    h = FlowHarness(tmp_path)
    prom = tmp_path / "hygge.prom"
    flows = {
        "small": {
            "home": h.parquet_source(pa.table({"id": [1, 2, 3]}), "small"),
            "store": h.parquet_sink("small_out"),
            "retry": {"initial": 0.05},
        }
    }
    path = h.write(flows, metrics={"textfile": str(prom)})
    # A transient fault just before the first commit: the attempt is retried once.
    done = hygge_imports(
        "run", str(path), prefixes=(), env={"HYGGE_FAULTS": "commit.start@1=transient"}
    )
    assert done.returncode == 0, done.stderr
    got = samples(prom.read_text())
    assert got[("hygge_flow_retries_total", "small")] == 1
    assert got[("hygge_flow_runs_total", "small")] == 1
    assert got[("hygge_flow_failures_total", "small")] == 0
    assert got[("hygge_flow_rows_total", "small")] == 3
