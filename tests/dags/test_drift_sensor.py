"""The drift DAG's DriftSensor: emits one asset event per policy-confirmed signal, with the signal as its extra.

Runs the real ``ct_drift_weather`` DAG with ``dag.test()`` on a home whose ledger holds confirmed signals, and
the DriftTrigger in an event loop: it must wait while nothing is confirmed and fire once a signal is written.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ct.airflow_env import REPO_ROOT
from ml.drift.signals import next_signal
from ml.ledger import append_event, read_events

SIGNAL = {
    "signal_id": "s-1",
    "reason": "data_drift",
    "batch_id": "1982",
    "data_rev": "abc123",
    "onset_batch": "1981",
    "report_html": "/reports/weather-1982.html",
    "drifted_columns": ["wind", "temp"],
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CT_CONTRACTS", "weather")
    return tmp_path / "home"


def _drift_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.get_dag("ct_drift_weather")


def _asset_events(run_id: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (
            select(AssetEvent, AssetModel.name)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetEvent.source_run_id == run_id)
        )
        rows = session.execute(query).all()
        return [{"asset": name, "extra": dict(event.extra)} for event, name in rows]


def test_each_confirmed_signal_becomes_one_asset_event(airflow_db, home: Path) -> None:
    ledger = home / "ledger"
    append_event(ledger, "weather", "drift_signal", **SIGNAL)
    append_event(ledger, "weather", "drift_signal", **{**SIGNAL, "signal_id": "s-2", "batch_id": "1984"})
    dag = _drift_dag()

    first, second = dag.test(), dag.test()

    assert str(first.state) == str(second.state) == "success"
    [event] = _asset_events(first.run_id)
    assert event["asset"] == "ct.weather.drift_signal"
    assert {k: event["extra"][k] for k in SIGNAL} == SIGNAL  # reason, report, columns travel with the event
    assert [e["extra"]["batch_id"] for e in _asset_events(second.run_id)] == ["1984"]  # oldest first, each once
    emitted = read_events(ledger, "weather", ["drift_signal_emitted"])
    assert [(e["signal_id"], e["run_id"]) for e in emitted] == [("s-1", first.run_id), ("s-2", second.run_id)]
    assert next_signal(ledger, "weather") is None


def test_trigger_waits_until_a_signal_is_confirmed(home: Path) -> None:
    from ct_platform.triggers import DriftTrigger

    ledger = home / "ledger"
    append_event(ledger, "weather", "batch_monitored", batch_id="1980", batch_drifted=True)
    append_event(ledger, "weather", "drift_signal", **SIGNAL)
    append_event(ledger, "weather", "drift_signal_emitted", signal_id="s-1")  # already emitted: not again
    trigger = DriftTrigger(str(ledger), "weather", poll_interval=0.05)
    assert trigger.serialize() == (
        "ct_platform.triggers.DriftTrigger",
        {"ledger": str(ledger), "contract": "weather", "poll_interval": 0.05},
    )

    async def wait_then_confirm():
        waiting = asyncio.ensure_future(anext(trigger.run()))
        await asyncio.sleep(0.5)
        assert not waiting.done(), "fired with no unemitted signal"
        append_event(ledger, "weather", "drift_signal", **{**SIGNAL, "signal_id": "s-2"})
        return await asyncio.wait_for(waiting, timeout=10)

    fired = asyncio.run(wait_then_confirm())
    assert fired.payload == {"signal_id": "s-2"}
