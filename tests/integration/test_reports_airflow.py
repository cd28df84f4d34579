"""Reports people read: every monitored batch's Evidently report is on disk, in the Evidently workspace, linked
from the monitor task in Airflow's UI (through the REST API the UI calls), served to logged-in users only, and
named by path and URL in the drift asset event.

A renamed weather contract in its own home (tests/integration/contract_home.py): a first model trained on
1961-1976 and 1977-1978 replayed with the direct engine (the step functions the DAGs call), then batch 1978 monitored
again through the real monitor DAG (``dag.test()``), as a retried or re-run task would. A user logs in at
``/auth/token`` of Airflow's own API app, in-process, and asks for the task's extra links as the UI does.
"""

from __future__ import annotations

import pytest

from ct.airflow_env import REPO_ROOT
from ct.simulate import simulate
from ml.ledger import append_event, read_events
from ml.reports.urls import URL_PREFIX
from ml.reports.workspace import list_snapshots, project_name
from ml.simulation.scenario import Scenario
from tests.integration.contract_home import api_client, contract_home, login

pytestmark = pytest.mark.slow  # a first model is trained (~1 min on 2 cores)

NAME = "reported"
USERS = {"analyst": "analyst-pw"}
SCENARIO = Scenario.model_validate(
    {
        "contract": NAME,
        "bootstrap": {"start": "1961-01-01", "end": "1977-01-01"},
        "replay": {"start": "1977-01-01", "end": "1979-01-01"},
    }
)
LINKS = "/api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/links"


@pytest.fixture(scope="module")
def reported(airflow_db, tmp_path_factory):
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    with contract_home(tmp_path_factory.mktemp("reports"), NAME, users=USERS) as (paths, contract):
        simulate(paths, contract, SCENARIO, engine="direct")
        [ingested] = [e for e in read_events(paths.ledger, NAME, ["batch_ingested"]) if e["batch_id"] == "1978"]
        bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
        assert not bag.import_errors, bag.import_errors
        DagBundlesManager().sync_bundles_to_db()
        sync_bag_to_db(bag, "dags-folder", None)
        run = bag.get_dag(f"ct_monitor_{NAME}").test(
            run_conf={
                "batch_id": "1978",
                "data_rev": ingested["data_version"]["rev"],
                "period_start": ingested["period_start"],
            }
        )
        assert str(run.state) == "success"
        api = api_client()
        yield paths, bag, run, api, login(api, "analyst", USERS["analyst"])


def _monitored(paths) -> list[dict]:
    return [e for e in read_events(paths.ledger, NAME, ["batch_monitored"]) if not e.get("no_champion")]


def test_each_monitored_batch_has_its_files_and_one_run_in_the_workspace(reported):
    from evidently.ui.workspace import Workspace

    paths, *_ = reported
    monitored = _monitored(paths)
    assert [e["batch_id"] for e in monitored] == ["1977", "1978", "1978"]  # 1978 again through the DAG
    for event in monitored:
        assert event["report_url"] == f"{URL_PREFIX}/{NAME}/{event['report_id']}.html"
        assert (paths.reports / NAME / f"{event['report_id']}.html").is_file()
        assert (paths.reports / NAME / f"{event['report_id']}.json").is_file()
        assert event["workspace"]["workspace"] == str(paths.evidently_workspace)

    workspace = Workspace(str(paths.evidently_workspace))
    [project] = workspace.search_project(project_name(NAME))
    runs = {str(s) for s in workspace.list_runs(project.id)}
    assert sorted(s["batch_id"] for s in list_snapshots(paths, NAME)) == ["1977", "1978"]
    # the re-run replaced 1978's run (its report was written again), it did not add a second one
    assert runs == {monitored[0]["workspace"]["snapshot_id"], monitored[-1]["workspace"]["snapshot_id"]}
    assert workspace.get_run(project.id, monitored[-1]["workspace"]["snapshot_id"]).metadata["batch_id"] == "1978"


def test_the_monitor_task_links_its_report_in_the_rest_api(reported):
    paths, _, run, api, headers = reported
    dag = f"ct_monitor_{NAME}"
    links = api.get(LINKS.format(dag=dag, run=run.run_id, task="score_and_report"), headers=headers)
    assert links.status_code == 200, links.text
    assert links.json()["extra_links"] == {"Evidently report": _monitored(paths)[-1]["report_url"]}
    # a task that pushed no report gets no link (null: the UI shows no button)
    other = api.get(LINKS.format(dag=dag, run=run.run_id, task="decide_drift"), headers=headers)
    assert other.status_code == 200 and other.json()["extra_links"] == {"Evidently report": None}


def test_reports_are_served_to_logged_in_users_only_and_nothing_outside(reported):
    paths, _, _, api, headers = reported
    url = _monitored(paths)[-1]["report_url"]
    page = api.get(url, headers=headers)
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert api.get(url.removesuffix(".html") + ".json", headers=headers).json()["metric_results"]
    assert api.get(url).status_code in (401, 403)  # not logged in
    (paths.home / "secret.txt").write_text("not a report")
    for escape in (
        "%2e%2e/secret.txt",
        "..%2fsecret.txt",
        f"{NAME}/..%2f..%2fsecret.txt",
        "%2fetc%2fpasswd",
        f"{NAME}/missing.html",
    ):
        refused = api.get(f"{URL_PREFIX}/{escape}", headers=headers)
        assert refused.status_code == 404 and refused.json()["detail"].startswith("no report"), escape  # ours


def _asset_event_extras(run_id: str) -> list[dict]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return [dict(e.extra) for e in session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == run_id))]


def test_the_drift_asset_event_names_the_report_by_path_and_url(reported):
    paths, bag, *_ = reported
    last = _monitored(paths)[-1]
    append_event(
        paths.ledger,
        NAME,
        "drift_signal",
        signal_id="s-report",
        reason="manual",
        batch_id="1978",
        report_id=last["report_id"],
        report_html=last["report_html"],
    )
    events = []
    for _ in range(3):  # signals the replay confirmed come first, oldest first
        run = bag.get_dag(f"ct_drift_{NAME}").test()
        events += _asset_event_extras(run.run_id)
        if any(e.get("signal_id") == "s-report" for e in events):
            break
    mine = next(e for e in events if e.get("signal_id") == "s-report")
    assert mine["report_html"] == last["report_html"] and mine["report_url"] == last["report_url"]
    assert all(e["report_url"].startswith(f"{URL_PREFIX}/{NAME}/") for e in events if e.get("report_html"))
