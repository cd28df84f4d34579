"""Recording a person's answer to a passing gate, without Airflow, on a real MLflow store.

The answers have the shape Airflow's ApprovalOperator produces ({chosen_options, responded_by_user,
responded_at}); the Airflow path itself is tested in tests/integration/test_approval_airflow.py.
"""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from ml.contract import load_contract
from ml.gate.approval import approval_markdown, approval_outcome, approval_request, record_rejection
from ml.gate.decision import evaluate_gate
from ml.ledger import read_events
from ml.registry.store import (
    CHAMPION,
    client,
    download_run_artifact,
    ensure_experiment,
    ensure_registered_model,
    get_version,
    register_version,
    version_by_alias,
)
from ml.settings import PlatformPaths
from ml.steps.retrain import promote_challenger

WEATHER = Path(__file__).resolve().parents[3] / "include" / "contracts" / "weather.yaml"
AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
REVIEWER = {"id": "u-7", "name": "Ada"}


def _answer(option: str, user: dict | None = REVIEWER) -> dict:
    return {"chosen_options": [option], "params_input": {}, "responded_at": AT, "responded_by_user": user}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """One MLflow store for the module; each test gets its own contract name, so its own registered model."""
    return PlatformPaths(tmp_path_factory.mktemp("approval-records") / "home")


@pytest.fixture
def contract(request):
    base = load_contract(WEATHER)
    gate = base.gate.model_copy(update={"approval": base.gate.approval.model_copy(update={"required": True})})
    name = f"t{zlib.crc32(request.node.name.encode()):08x}"
    return base.model_copy(update={"gate": gate, "name": name})


@pytest.fixture
def gated(home, contract):
    """A registered challenger whose run holds a real passing decision against a champion."""
    paths = home
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 4000)
    champion = y + rng.normal(0, 1.2, y.size)
    challenger = y + rng.normal(0, 0.8, y.size)
    decision = evaluate_gate(contract.gate, y, challenger, champion, {"holdout_rev": "abc123"})
    assert decision.decision == "promote"
    mlflow_client = client(paths)
    experiment = ensure_experiment(paths, contract.name)
    run = mlflow_client.create_run(experiment)
    mlflow_client.log_dict(run.info.run_id, decision.to_dict(), "gate/decision.json")
    ensure_registered_model(paths, contract.model_name)
    version = register_version(paths, contract.model_name, run.info.run_id, run.info.artifact_uri, {})
    gate = {
        "decision": "promote",
        "decision_id": decision.decision_id,
        "version": version.version,
        "run_id": run.info.run_id,
        "champion_version": "4",
        "signal_batch": "1983",
    }
    return paths, gate, decision


def test_answers_mean_approved_rejected_or_timed_out():
    assert approval_outcome(_answer("Approve")) == {
        "outcome": "approved",
        "approver": "Ada",
        "approver_id": "u-7",
        "responded_at": AT.isoformat(),
    }
    assert approval_outcome(_answer("Reject"))["outcome"] == "rejected"
    # Airflow answers a request that timed out with its default and no user
    assert approval_outcome(_answer("Reject", None)) == {
        "outcome": "timed_out",
        "approver": None,
        "approver_id": None,
        "responded_at": AT.isoformat(),
    }
    for bad in (None, {}, {"chosen_options": []}, _answer("Maybe")):
        with pytest.raises(ValueError, match="approval"):
            approval_outcome(bad)


def test_request_shows_the_decisions_numbers(gated, contract):
    paths, gate, decision = gated
    body = approval_request(paths, contract, gate)
    c = decision.comparison
    assert f"Gate decision `{decision.decision_id}`: **promote**" in body
    assert f"| effect (challenger - champion) | {c['effect']:+.4f} |" in body
    assert f"| CI of effect | [{c['ci_low']:.4f}, {c['ci_high']:.4f}] |" in body
    assert f"{c['test']}, {c['p_value']:.3g}" in body and "champion now: 4" in body
    assert "No answer within 72h counts as a rejection" in body


def test_promotion_needs_an_approval_and_records_the_approver(gated, contract):
    paths, gate, _ = gated
    for refused in (None, _answer("Reject"), _answer("Reject", None)):
        with pytest.raises(ValueError, match="requires human approval"):
            promote_challenger(paths, contract, gate, refused)
    assert version_by_alias(paths, contract.model_name, CHAMPION) is None
    assert read_events(paths.ledger, contract.name) == [], "a refused promotion records nothing"
    event = promote_challenger(paths, contract, gate, _answer("Approve"))
    assert (event["approved_by"], event["approver_id"], event["approved_at"]) == ("Ada", "u-7", AT.isoformat())
    assert version_by_alias(paths, contract.model_name, CHAMPION).version == gate["version"]
    tags = get_version(paths, contract.model_name, gate["version"]).tags
    assert (tags["ct.approval"], tags["ct.approver"], tags["ct.approver_id"]) == ("approved", "Ada", "u-7")
    assert tags["ct.approval_at"] == AT.isoformat()
    stored = json.loads(download_run_artifact(paths, gate["run_id"], "gate/approval.json").read_text())
    assert stored["decision_id"] == gate["decision_id"] and stored["approver"] == "Ada"
    # a retried promotion writes no second approval
    promote_challenger(paths, contract, gate, _answer("Approve"))
    kinds = [e["kind"] for e in read_events(paths.ledger, contract.name)]
    assert kinds == ["approval", "champion_changed", "champion_changed"]
    assert "| approver | Ada (id u-7) |" in approval_markdown(stored)


def test_rejection_is_recorded_and_an_approval_is_not_a_rejection(gated, contract):
    paths, gate, _ = gated
    with pytest.raises(ValueError, match="was approved but not promoted"):
        record_rejection(paths, contract, gate, _answer("Approve"))
    record = record_rejection(paths, contract, gate, _answer("Reject", None))
    assert (record["outcome"], record["approver"]) == ("timed_out", None)
    (event,) = read_events(paths.ledger, contract.name, ["approval"])
    assert (event["version"], event["batch_id"], event["outcome"]) == (gate["version"], "1983", "timed_out")
    assert get_version(paths, contract.model_name, gate["version"]).tags["ct.approval"] == "timed_out"
    assert version_by_alias(paths, contract.model_name, CHAMPION) is None
    assert "nobody (timed out)" in approval_markdown(record)


def test_without_required_approval_promotion_is_unchanged(gated, contract):
    paths, gate, _ = gated
    plain = contract.model_copy(update={"gate": load_contract(WEATHER).gate})
    event = promote_challenger(paths, plain, gate)
    assert "approved_by" not in event
    assert "ct.approval" not in get_version(paths, plain.model_name, gate["version"]).tags
