"""HyggeOperator under Airflow's own test harness: `dag.test()` runs a DAG of two hygge
tasks in one process, against a real (SQLite) Airflow metadata database."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import FlowHarness


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An AIRFLOW_HOME with a migrated metadata database, for this module's DAGs."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    }
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run(
        [str(airflow), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return env


DAG = """
import json, sys
import pendulum
from airflow.sdk import DAG
from hygge_airflow import HyggeOperator

with DAG("{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
    users = HyggeOperator(task_id="users", flows_file="{flows}", flows=["users"])
    orders = HyggeOperator(task_id="orders", flows_file="{flows}", flows=["orders"])
    users >> orders

if __name__ == "__main__":
    run = dag.test()
    states = {{ti.task_id: str(ti.state) for ti in run.get_task_instances()}}
    print("RESULT " + json.dumps({{"run": str(run.state), "tasks": states}}))
"""


def _run_dag(tmp_path: Path, env: dict[str, str], dag_id: str, flows: Path) -> tuple[dict, str]:
    import json

    dags = tmp_path / "dags"
    dags.mkdir()
    script = dags / f"{dag_id}.py"
    script.write_text(textwrap.dedent(DAG.format(dag_id=dag_id, flows=flows)))
    done = subprocess.run(
        [sys.executable, str(script)],
        env={**env, "AIRFLOW__CORE__DAGS_FOLDER": str(dags)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, output[-4000:]
    return json.loads(line[len("RESULT ") :]), output


def _flows(h: FlowHarness) -> dict[str, dict[str, object]]:
    return {
        "users": {
            "home": h.parquet_source(pa.table({"id": list(range(7))}), "users"),
            "store": h.parquet_sink("users_out"),
        },
        "orders": {
            "home": h.parquet_source(pa.table({"id": list(range(40))}), "orders"),
            "store": h.parquet_sink("orders_out"),
        },
    }


def test_a_dag_of_two_hygge_tasks_runs_both_flows(
    tmp_path: Path, airflow_env: dict[str, str]
) -> None:
    h = FlowHarness(tmp_path)
    result, output = _run_dag(tmp_path, airflow_env, "hygge_two_flows", h.write(_flows(h)))
    assert result == {"run": "success", "tasks": {"users": "success", "orders": "success"}}
    assert pq.read_table(tmp_path / "users_out").num_rows == 7
    assert pq.read_table(tmp_path / "orders_out").num_rows == 40
    assert "hygge flow orders: 40 rows" in output


def test_a_failing_flow_fails_its_task_and_skips_the_next(
    tmp_path: Path, airflow_env: dict[str, str]
) -> None:
    h = FlowHarness(tmp_path)
    flows = _flows(h)
    flows["users"]["home"] = {"type": "parquet", "path": str(tmp_path / "missing.parquet")}
    result, output = _run_dag(tmp_path, airflow_env, "hygge_failing", h.write(flows))
    assert result["run"] == "failed"
    assert result["tasks"] == {"users": "failed", "orders": "upstream_failed"}
    assert "HyggeFailed: hygge: users:" in output and "missing.parquet" in output
    assert not (tmp_path / "orders_out").exists()
