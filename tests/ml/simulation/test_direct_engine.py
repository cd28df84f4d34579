"""The direct engine runs the retrain DAG's steps in the DAG's order, approval included, with a scripted answer.

A copy of the weather contract that requires human approval; one bootstrap batch lands and the direct engine
processes it: the first model passes its gate, then the scripted person answers. A rejection is recorded and
leaves no champion; an approval records the approver and only then moves the alias.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ml.bootstrap import init_platform
from ml.contract import parse_contract
from ml.gate.approval import REJECT_OPTION
from ml.ledger import EventKind, read_events
from ml.registry.store import CHAMPION, version_by_alias
from ml.settings import PlatformPaths
from ml.simulation.replay import process_landing_direct, scripted_answer
from ml.simulation.scenario import Scenario, land, plan_batches
from ml.simulation.sources import load_source

REPO = Path(__file__).resolve().parents[3]


def _approval_contract():
    data = yaml.safe_load((REPO / "include" / "contracts" / "weather.yaml").read_text())
    data["name"] = "signoff_direct"
    data["gate"] = {**data["gate"], "approval": {"required": True, "timeout": "1h", "approvers": ["tester"]}}
    return parse_contract(data)


@pytest.fixture
def landed(tmp_path):
    """A fresh platform home with the contract's bootstrap batch waiting in landing."""
    contract = _approval_contract()
    paths = PlatformPaths(tmp_path / "home")
    init_platform(paths, [contract])
    scenario = Scenario.model_validate(
        {
            "contract": contract.name,
            "bootstrap": {"start": "1961-01-01", "end": "1967-01-01"},
            "replay": {"start": "1967-01-01", "end": "1968-01-01"},
        }
    )
    land(next(plan_batches(scenario, contract, load_source(contract))), contract, paths.landing_for(contract.name))
    return paths, contract


def _kinds(paths: PlatformPaths, contract) -> list[str]:
    return [e["kind"] for e in read_events(paths.ledger, contract.name)]


def test_a_scripted_rejection_is_recorded_and_keeps_no_champion(landed):
    paths, contract = landed
    process_landing_direct(paths, contract, approver=scripted_answer(REJECT_OPTION, user="tester"))
    approval = read_events(paths.ledger, contract.name, [EventKind.APPROVAL])
    assert [(a["outcome"], a["approver"]) for a in approval] == [("rejected", "tester")]
    assert EventKind.CHAMPION_CHANGED not in _kinds(paths, contract)
    assert version_by_alias(paths, contract.model_name, CHAMPION) is None


def test_a_scripted_approval_is_recorded_before_the_alias_moves(landed):
    paths, contract = landed
    process_landing_direct(paths, contract, approver=scripted_answer(user="tester"))
    kinds = _kinds(paths, contract)
    assert (
        kinds.index(EventKind.GATE_DECISION) < kinds.index(EventKind.APPROVAL) < kinds.index(EventKind.CHAMPION_CHANGED)
    )
    changed = read_events(paths.ledger, contract.name, [EventKind.CHAMPION_CHANGED])[-1]
    assert changed["approved_by"] == "tester"
    champion = version_by_alias(paths, contract.model_name, CHAMPION)
    assert champion is not None and champion.tags["ct.approver"] == "tester"
