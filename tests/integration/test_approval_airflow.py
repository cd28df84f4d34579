"""Human approval of a passing gate, through Airflow: the retrain DAG waits, a person answers, it is recorded.

A copy of the weather contract named ``signoff`` with ``gate.approval.required``. One bootstrap batch is
ingested, then the retrain DAG runs three times with ``dag.test()`` (each time the first-model gate passes,
because no champion exists until a promotion). ``dag.test()`` keeps a run alive while a task waits in
``awaiting_input``; a reviewer thread answers the way a person does, through Airflow's own API server app
(the HITL endpoints behind the UI's Required Actions: log in at ``/auth/token``, find the open request,
PATCH the answer), or lets the request time out and runs the scheduler's own timeout sweep.

1. "Reject" by ``reviewer``: no champion, the rejection is recorded with the reviewer's name.
2. No answer before the timeout: recorded as ``timed_out``, nobody as approver, no champion.
3. "Approve" by ``reviewer``: the alias moves; the approver reaches tags, approval.json and the ledger.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest

from ct.simulate import AirflowDriver
from ml.ledger import read_events
from ml.registry.store import CHAMPION, client, download_run_artifact, get_version, version_by_alias
from ml.simulation.scenario import Scenario, land, plan_batches
from ml.simulation.sources import load_source
from tests.integration.contract_home import api_client, contract_home, login

NAME = "signoff"
DAG_ID = f"ct_retrain_{NAME}"
USERS = {"reviewer": "reviewer-pw", "outsider": "outsider-pw"}


@pytest.fixture(scope="module")
def platform(airflow_db, tmp_path_factory):
    """A platform home for the ``signoff`` contract with one ingested batch, and an API client."""
    approval = {"approval": {"required": True, "timeout": "3s", "approvers": ["reviewer"]}}
    with contract_home(tmp_path_factory.mktemp("approval"), NAME, changes={"gate": approval}, users=USERS) as (
        paths,
        contract,
    ):
        scenario = Scenario.model_validate(
            {
                "contract": NAME,
                "bootstrap": {"start": "1961-01-01", "end": "1967-01-01"},
                "replay": {"start": "1967-01-01", "end": "1968-01-01"},
            }
        )
        land(next(plan_batches(scenario, contract, load_source(contract))), contract, paths.landing_for(NAME))
        driver = AirflowDriver(paths, contract)
        assert driver.run("ingest") == "success"
        yield paths, contract, driver, api_client()


def _login(api, user: str) -> dict:
    return login(api, user, USERS[user])


class Reviewer(threading.Thread):
    """Waits for the open approval request of the retrain DAG, then answers it (or lets it time out)."""

    def __init__(self, api, answer: str | None):
        super().__init__(daemon=True)
        self.api, self.answer = api, answer
        self.request: dict | None = None
        self.outsider_status: int | None = None
        self.error: BaseException | None = None

    def run(self):
        try:
            self._review()
        except BaseException as error:  # noqa: BLE001 - reported by the test in the main thread
            self.error = error

    def _open_request(self, headers: dict) -> dict:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            listed = self.api.get(
                f"/api/v2/dags/{DAG_ID}/dagRuns/~/hitlDetails", params={"response_received": "false"}, headers=headers
            )
            assert listed.status_code == 200, listed.text
            if listed.json()["total_entries"]:
                return listed.json()["hitl_details"][0]
            time.sleep(0.5)
        raise TimeoutError("the retrain DAG never asked for approval")

    def _review(self):
        headers = _login(self.api, "reviewer")
        self.request = self._open_request(headers)
        ti = self.request["task_instance"]
        url = f"/api/v2/dags/{DAG_ID}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/-1/hitlDetails"
        if self.answer is None:
            self._time_out()
            return
        outsider = self.api.patch(url, json={"chosen_options": [self.answer]}, headers=_login(self.api, "outsider"))
        self.outsider_status = outsider.status_code
        answered = self.api.patch(url, json={"chosen_options": [self.answer]}, headers=headers)
        assert answered.status_code == 200, answered.text

    def _time_out(self):
        """No answer: once the deadline has passed, the scheduler's sweep applies the default (Reject)."""
        from airflow.jobs.job import Job
        from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

        time.sleep(4)  # the contract's timeout is 3 s
        SchedulerJobRunner(job=Job(), executors=[]).check_awaiting_input_timeouts()


def _retrain(driver: AirflowDriver, api, answer: str | None) -> tuple[dict, Reviewer]:
    reviewer = Reviewer(api, answer)
    reviewer.start()
    run = driver.dags["retrain"].test(run_conf={"reason": "manual"})
    reviewer.join(timeout=60)
    assert reviewer.error is None, repr(reviewer.error)
    assert str(run.state) == "success"
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}, reviewer


@pytest.fixture(scope="module")
def rejected(platform):
    paths, contract, driver, api = platform
    states, reviewer = _retrain(driver, api, "Reject")
    return states, reviewer, read_events(paths.ledger, NAME)


@pytest.fixture(scope="module")
def timed_out(platform, rejected):
    paths, contract, driver, api = platform
    states, reviewer = _retrain(driver, api, None)
    return states, reviewer, read_events(paths.ledger, NAME)


@pytest.fixture(scope="module")
def approved(platform, timed_out):
    paths, contract, driver, api = platform
    states, reviewer = _retrain(driver, api, "Approve")
    return states, reviewer, read_events(paths.ledger, NAME)


def _approvals(events: list[dict]) -> list[dict]:
    return [e for e in events if e["kind"] == "approval"]


def test_the_request_shows_the_gate_decision(platform, rejected):
    paths, contract, _, _ = platform
    _, reviewer, events = rejected
    gate = [e for e in events if e["kind"] == "gate_decision"][-1]
    request = reviewer.request
    assert request["options"] == ["Approve", "Reject"] and request["defaults"] == ["Reject"]
    assert request["subject"] == f"Promote ct-{NAME} version {gate['version']} to champion?"
    assert gate["decision_id"] in request["body"] and "**promote**" in request["body"]
    assert "CI of metric" in request["body"] and "| metric | auc" in request["body"]
    assert request["assigned_users"] == [{"id": "reviewer", "name": "reviewer"}]


def test_only_an_assigned_approver_may_answer(rejected):
    _, reviewer, _ = rejected
    assert reviewer.outsider_status == 403


def test_a_rejection_keeps_the_champion_and_names_the_reviewer(platform, rejected):
    paths, contract, _, _ = platform
    states, _, events = rejected
    assert states["approve_promotion"] == "success"  # a "Reject" is an answer, not a failure
    assert states["promote_champion"] == "skipped" and states["record_rejection"] == "success"
    assert version_by_alias(paths, contract.model_name, CHAMPION) is None
    assert not [e for e in events if e["kind"] == "champion_changed"]
    gate = [e for e in events if e["kind"] == "gate_decision"][-1]
    (approval,) = _approvals(events)
    assert (approval["outcome"], approval["approver"], approval["version"]) == ("rejected", "reviewer", gate["version"])
    assert approval["decision_id"] == gate["decision_id"]
    assert datetime.fromisoformat(approval["responded_at"]) <= datetime.now(UTC)
    tags = get_version(paths, contract.model_name, gate["version"]).tags
    assert (tags["ct.approval"], tags["ct.approver"], tags["ct.gate.decision"]) == ("rejected", "reviewer", "promote")
    stored = json.loads(download_run_artifact(paths, gate["run_id"], "gate/approval.json").read_text())
    assert stored["outcome"] == "rejected" and stored["approver"] == "reviewer"


def test_no_answer_in_time_is_a_recorded_rejection(platform, timed_out):
    paths, contract, _, _ = platform
    states, _, events = timed_out
    assert states["promote_champion"] == "skipped" and states["record_rejection"] == "success"
    assert version_by_alias(paths, contract.model_name, CHAMPION) is None
    approval = _approvals(events)[-1]
    assert (approval["outcome"], approval["approver"]) == ("timed_out", None)
    assert get_version(paths, contract.model_name, approval["version"]).tags["ct.approval"] == "timed_out"


def test_an_approval_promotes_and_records_the_approver(platform, approved):
    paths, contract, _, _ = platform
    states, _, events = approved
    assert states["promote_champion"] == "success" and states["record_rejection"] == "skipped"
    approval = _approvals(events)[-1]
    assert (approval["outcome"], approval["approver"], approval["approver_id"]) == ("approved", "reviewer", "reviewer")
    champion = version_by_alias(paths, contract.model_name, CHAMPION)
    assert champion is not None and champion.version == approval["version"]
    (changed,) = [e for e in events if e["kind"] == "champion_changed"]
    assert (changed["version"], changed["approved_by"]) == (approval["version"], "reviewer")
    assert changed["approved_at"] == approval["responded_at"]
    assert champion.tags["ct.approval"] == "approved" and champion.tags["ct.approver"] == "reviewer"
    # every promotion of this contract went through a person
    assert [e["outcome"] for e in _approvals(events)] == ["rejected", "timed_out", "approved"]
    assert client(paths).get_model_version_by_alias(contract.model_name, CHAMPION).tags["ct.approval_at"]


def test_gate_show_prints_the_approval(platform, approved, capsys):
    from ct.cli import main

    paths, contract, _, _ = platform
    version = _approvals(approved[2])[-1]["version"]
    command = ["--home", str(paths.home), "gate", "show", str(version), "--contract", NAME]
    assert main(command) == 0  # finds the contract copy through the fixture's CT_CONTRACTS_DIR
    text = capsys.readouterr().out
    assert "## Human approval" in text and "| outcome | approved |" in text and "reviewer (id reviewer)" in text
    assert main([*command, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["approval"]["outcome"] == "approved" and record["approval"]["approver"] == "reviewer"
    assert record["decision"] == "promote" and "approval" not in record["context"]
