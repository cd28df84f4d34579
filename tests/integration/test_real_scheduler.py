"""The loop through the real Airflow scheduler: asset-triggered runs, not only ``dag.test()``.

Runs ``ct demo --no-wait`` on a short scenario (bootstrap, then two yearly batches) with its own CT_HOME
and free ports: scheduler, dag-processor, triggerer and api-server on LocalExecutor, plus MLflow. Then
reads Airflow's metadata DB: the monitor and retrain runs must have been started by asset events.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from ct.airflow_env import REPO_ROOT
from ml.ledger import read_events
from ml.settings import PlatformPaths

pytestmark = pytest.mark.slow

SHORT_SCENARIO = """\
contract: weather
bootstrap: {start: "1961-01-01", end: "1977-01-01"}
replay: {start: "1977-01-01", end: "1979-01-01"}
"""


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("scheduler")
    scenario = root / "short.yaml"
    scenario.write_text(SHORT_SCENARIO)
    paths = PlatformPaths(root / "home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CT_"))}
    env["CT_HOME"] = str(paths.home)
    result = subprocess.run(
        [sys.executable, "-m", "ct.cli", "demo", "--no-wait", "--scenario", str(scenario)],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return paths, result


def test_demo_finishes_and_stops_its_processes(demo_run):
    paths, result = demo_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "champion: version 1 (the first model)" in result.stdout
    assert "stopped" in result.stdout
    leftover = subprocess.run(["pgrep", "-f", str(paths.home)], capture_output=True, text=True).stdout.split()
    assert leftover == [], f"processes still running for {paths.home}: {leftover}"


def test_runs_were_triggered_by_asset_events(demo_run):
    paths, _ = demo_run
    with sqlite3.connect(paths.airflow_home / "airflow.db") as db:
        runs = db.execute("select dag_id, run_type, state from dag_run").fetchall()
    monitor = [r for r in runs if r[0] == "ct_monitor_weather"]
    retrain = [r for r in runs if r[0] == "ct_retrain_weather"]
    assert len(monitor) == 3 and all(r[1] == "asset_triggered" and r[2] == "success" for r in monitor)
    assert retrain and all(r[1] == "asset_triggered" and r[2] == "success" for r in retrain)


def test_drift_events_come_from_the_drift_sensor(demo_run):
    """The retrain was started by the drift DAG's DriftSensor (deferred in the real triggerer), once per signal."""
    paths, _ = demo_run
    with sqlite3.connect(paths.airflow_home / "airflow.db") as db:
        sources = db.execute(
            "select e.source_dag_id, e.source_task_id, e.extra from asset_event e join asset a "
            "on a.id = e.asset_id where a.name = 'ct.weather.drift_signal'"
        ).fetchall()
        sensor_runs = db.execute("select state from dag_run where dag_id = 'ct_drift_weather'").fetchall()
    signals = read_events(paths.ledger, "weather", ["drift_signal"])
    assert [(dag, task) for dag, task, _ in sources] == [("ct_drift_weather", "wait_for_drift")] * len(signals)
    assert [json.loads(extra)["signal_id"] for *_, extra in sources] == [s["signal_id"] for s in signals]
    assert sum(state == "success" for (state,) in sensor_runs) == len(signals)


def test_ledger_tells_the_same_story(demo_run):
    paths, _ = demo_run
    ingested = read_events(paths.ledger, "weather", ["batch_ingested"])
    assert [e["batch_id"] for e in ingested] == ["backfill-19610101-19770101", "1977", "1978"]
    assert [e["decision"] for e in read_events(paths.ledger, "weather", ["gate_decision"])] == ["promote"]
