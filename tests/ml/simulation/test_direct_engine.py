"""The direct engine runs the retrain DAG's steps in the DAG's order, approval included, with a scripted answer.

A copy of the weather contract that requires human approval; one bootstrap batch lands and the direct engine
processes it: the first model passes its gate, then the scripted person answers. A rejection is recorded and
leaves no champion; an approval records the approver and only then moves the alias.
"""

from __future__ import annotations

import pytest

from ml.gate.approval import REJECT_OPTION
from ml.ledger import EventKind, read_events
from ml.registry.store import CHAMPION, version_by_alias
from ml.settings import PlatformPaths
from ml.simulation.replay import process_landing_direct, scripted_answer
from tests.ml.weather_home import bootstrap_home, weather_copy


@pytest.fixture
def landed(tmp_path):
    """A fresh platform home with the contract's bootstrap batch waiting in landing."""
    contract = weather_copy(
        "signoff_direct", gate={"approval": {"required": True, "timeout": "1h", "approvers": ["tester"]}}
    )
    return bootstrap_home(tmp_path, contract), contract


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
