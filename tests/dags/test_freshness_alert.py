"""Freshness: a feed silent past its contract's SLA turns the ingest sensor red and raises an alert.

The real ingest DAG runs with ``dag.test()`` for a copy of the weather contract whose silence SLA is 3 s, on
an empty landing folder. ``CT_ALERT_CALLBACK`` names a hook in this module (and a broken one, which must not
hide the alert).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ct.airflow_env import REPO_ROOT
from ml.ledger import read_events

ALERTS: list[dict] = []


def remember_alert(alert: dict, context) -> None:
    """An alert hook, as a deployment would write one (this one keeps the alert and a piece of the context)."""
    ALERTS.append({**alert, "context_task": context["ti"].task_id})


@pytest.fixture
def silent_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    text = (REPO_ROOT / "include/contracts/weather.yaml").read_text()
    assert "name: weather\n" in text and "no_batch_within: 400D" in text
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "silent.yaml").write_text(
        text.replace("name: weather\n", "name: silent\n").replace("no_batch_within: 400D", "no_batch_within: 3s")
    )
    home = tmp_path / "home"
    monkeypatch.setenv("CT_CONTRACTS_DIR", str(contracts))
    monkeypatch.setenv("CT_CONTRACTS", "silent")
    monkeypatch.setenv("CT_HOME", str(home))
    monkeypatch.setenv("CT_ALERT_CALLBACK", "no_such_module:page, test_freshness_alert:remember_alert")
    return home


def test_silence_past_the_sla_fails_the_sensor_and_alerts(airflow_db, silent_contract: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    dag = bag.get_dag("ct_ingest_silent")
    (silent_contract / "landing" / "silent").mkdir(parents=True)
    ALERTS.clear()

    run = dag.test()

    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) == "failed" and states["wait_for_batch"] == "failed", states
    assert states["validate_batch"] == "upstream_failed"
    [event] = read_events(silent_contract / "ledger", "silent", ["freshness_alert"])
    assert event["reason"] == "silence" and event["sla"] == "3s" and event["task_id"] == "wait_for_batch"
    assert "silent longer than its SLA (freshness.no_batch_within = 3s)" in event["message"]
    assert [alert["reason"] for alert in ALERTS] == ["silence"]  # the broken hook did not stop this one
    assert ALERTS[0]["context_task"] == "wait_for_batch" and ALERTS[0]["run_id"] == run.run_id


def test_other_sensor_failures_alert_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ct_platform.alerts import FeedAlert, load_hook

    monkeypatch.setenv("CT_HOME", str(tmp_path))
    monkeypatch.delenv("CT_ALERT_CALLBACK", raising=False)
    FeedAlert("weather", "400D", "/landing")({"exception": PermissionError("landing folder not readable")})

    [event] = read_events(tmp_path / "ledger", "weather", ["freshness_alert"])
    assert event["reason"] == "sensor_failed" and event["message"] == "landing folder not readable"
    with pytest.raises(ImportError, match="write module:function"):
        load_hook("nodots")
