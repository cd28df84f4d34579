"""The retrain DAG's shape with and without `gate.approval.required` (parsed from copies of the weather contract)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from ct.airflow_env import REPO_ROOT

RETRAIN_FILE = REPO_ROOT / "dags" / "ct_retrain.py"
WEATHER = REPO_ROOT / "include" / "contracts" / "weather.yaml"


def _retrain_dag(tmp_path, monkeypatch, approval: dict | None):
    from airflow.dag_processing.dagbag import DagBag

    data = yaml.safe_load(WEATHER.read_text())
    if approval is not None:
        data["gate"]["approval"] = approval
    folder = tmp_path / "contracts"
    folder.mkdir(parents=True)
    (folder / "weather.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("CT_CONTRACTS_DIR", str(folder))
    monkeypatch.delenv("CT_CONTRACTS", raising=False)
    bag = DagBag(dag_folder=str(RETRAIN_FILE))
    assert bag.import_errors == {}
    return bag.get_dag("ct_retrain_weather")


@pytest.fixture
def approval_dag(airflow_db, tmp_path, monkeypatch):
    return _retrain_dag(tmp_path, monkeypatch, {"required": True, "timeout": "36h", "approvers": ["ops"]})


def test_no_approval_step_unless_the_contract_asks(airflow_db, tmp_path, monkeypatch):
    for approval in (None, {"required": False}):
        dag = _retrain_dag(tmp_path / str(approval is None), monkeypatch, approval)
        assert [t.task_id for t in dag.topological_sort()] == [
            "pin_training_window",
            "train_challenger",
            "evaluate_gate",
            "gate_passed",
            "promote_champion",
        ]
        assert dag.user_defined_macros is None


def test_approval_sits_between_the_gate_and_the_promotion(approval_dag):
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    approval = approval_dag.get_task("approve_promotion")
    assert isinstance(approval, ApprovalOperator)
    assert approval.upstream_task_ids == {"gate_passed"}
    assert approval.downstream_task_ids == {"promote_champion"}
    assert approval_dag.get_task("promote_champion").upstream_task_ids >= {"approve_promotion", "evaluate_gate"}
    # The rejection recorder hangs off the promotion, not off the approval: a "Reject" skips the approval's
    # direct downstream tasks, and this one must still run then (and only then).
    record = approval_dag.get_task("record_rejection")
    assert record.upstream_task_ids == {"promote_champion"}
    assert str(record.trigger_rule) in ("all_skipped", "TriggerRule.ALL_SKIPPED")
    assert record.downstream_task_ids == set()


def test_approval_request_follows_the_contract(approval_dag):
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    approval = approval_dag.get_task("approve_promotion")
    assert approval.response_timeout == timedelta(hours=36)
    assert approval.defaults == [ApprovalOperator.REJECT], "no answer in time must count as a rejection"
    assert approval.assigned_users == [{"id": "ops", "name": "ops"}]
    assert "approval_request(" in approval.body and "approval_request" in approval_dag.user_defined_macros
    assert not approval.fail_on_reject, "a rejection is a recorded outcome, not a red task"


def test_ml_speaks_the_operators_options():
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    from ml.gate.approval import APPROVE_OPTION, REJECT_OPTION

    assert (APPROVE_OPTION, REJECT_OPTION) == (ApprovalOperator.APPROVE, ApprovalOperator.REJECT)
