"""An external monitor pushes a drift signal through Airflow's REST API, the way the README documents it.

The contract's DAGs are parsed and written to the metadata DB as the dag-processor would (which registers the
``ct.<contract>.drift_signal`` asset); a user logs in at ``/auth/token``, looks the asset up by name and POSTs
``/api/v2/assets/events`` with the signal as ``extra``. The retrain DAG, scheduled on that asset, then has the
event queued for its next run (``/api/v2/dags/<dag>/assets/queuedEvents``), which is what the scheduler turns
into an asset-triggered run; the run reads ``reason`` and ``batch_id`` from the event like any other signal.
"""

from __future__ import annotations

import pytest

from ct.airflow_env import REPO_ROOT
from tests.integration.contract_home import api_client, contract_home, login

NAME = "pushed"
USERS = {"monitor": "monitor-pw"}
SIGNAL = {"reason": "data_drift", "batch_id": "1983", "source": "vendor-monitor", "drifted_columns": ["visibility"]}


@pytest.fixture(scope="module")
def pushed(airflow_db, tmp_path_factory):
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    with contract_home(tmp_path_factory.mktemp("external-signal"), NAME, users=USERS):
        bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
        assert not bag.import_errors, bag.import_errors
        DagBundlesManager().sync_bundles_to_db()  # the dag table refers to its bundle
        sync_bag_to_db(bag, "dags-folder", None)
        api = api_client()
        yield api, login(api, "monitor", USERS["monitor"])


def test_an_external_monitor_can_push_the_signal_the_retrain_dag_waits_for(pushed):
    api, headers = pushed
    found = api.get("/api/v2/assets", params={"name_pattern": f"ct.{NAME}.drift_signal"}, headers=headers)
    assert found.status_code == 200, found.text
    [asset] = [a for a in found.json()["assets"] if a["name"] == f"ct.{NAME}.drift_signal"]
    assert f"ct_retrain_{NAME}" in {ref["dag_id"] for ref in asset["scheduled_dags"]}

    posted = api.post("/api/v2/assets/events", json={"asset_id": asset["id"], "extra": SIGNAL}, headers=headers)
    assert posted.status_code == 200, posted.text
    assert posted.json()["extra"] == {**SIGNAL, "from_rest_api": True}

    queued = api.get(f"/api/v2/dags/ct_retrain_{NAME}/assets/queuedEvents", headers=headers)
    assert queued.status_code == 200, queued.text
    assert [e["asset_id"] for e in queued.json()["queued_events"]] == [asset["id"]]


def test_a_bad_asset_id_is_refused_with_a_reason(pushed):
    api, headers = pushed
    refused = api.post("/api/v2/assets/events", json={"asset_id": 987654, "extra": SIGNAL}, headers=headers)
    assert refused.status_code == 404 and "987654" in refused.text
