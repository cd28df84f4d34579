"""A retrain that fails for good is written to the ledger, so its drift signal stops blocking new ones.

Through Airflow (``dag.test()``): a retrain started by a drift signal on a platform with no data version yet
fails in ``pin_training_window``; the task's on_failure_callback records ``retrain_failed`` with the signal's
batch, and the drift policy then lets the next confirmed drift start a retrain instead of merging into it.
"""

from __future__ import annotations

import pytest

from ct.simulate import AirflowDriver
from ml.drift.policy import decide
from ml.drift.records import MonitoredBatch
from ml.ledger import read_events
from tests.integration.contract_home import contract_home

NAME = "lostretrain"


@pytest.fixture(scope="module")
def failed_run(airflow_db, tmp_path_factory):
    with contract_home(tmp_path_factory.mktemp("retrain-failure"), NAME) as (paths, contract):
        driver = AirflowDriver(paths, contract)
        for task in driver.dags["retrain"].tasks:
            task.retries = 0  # the failure is certain; retrying only costs the test its retry delays
        state = driver.run("retrain", {"reason": "data_drift", "signal": {"batch_id": "1983", "reason": "data_drift"}})
        yield state, paths, contract


def test_the_failed_retrain_is_recorded_with_its_signal(failed_run):
    state, paths, _ = failed_run
    assert state == "failed"
    [failure] = read_events(paths.ledger, NAME, ["retrain_failed"])
    assert failure["batch_id"] == "1983" and failure["task_id"] == "pin_training_window"
    assert failure["reason"] == "data_drift" and "no data version" in failure["error"]


def test_the_next_confirmed_drift_is_not_merged_into_the_failed_retrain(failed_run):
    _, paths, contract = failed_run
    monitored = [
        {
            "kind": "batch_monitored",
            "batch_id": b,
            "batch_drifted": True,
            "reasons": ["data_drift"],
            "period_start": f"{b}-01-01T00:00:00+00:00",
        }
        for b in ("1984", "1985")
    ]
    history = [
        {"kind": "champion_changed", "version": "1"},
        *[{"kind": "batch_monitored", "batch_id": str(y), "batch_drifted": False} for y in (1978, 1979, 1980)],
        {"kind": "drift_signal", "batch_id": "1983"},
        *read_events(paths.ledger, NAME, ["retrain_failed"]),
        *monitored,
    ]
    assert decide(contract.drift, history, MonitoredBatch.from_dict(history[-1])).confirmed
    without_failure = [e for e in history if e["kind"] != "retrain_failed"]
    assert (
        "merged into pending signal"
        in decide(contract.drift, without_failure, MonitoredBatch.from_dict(without_failure[-1])).explanation
    )
