"""The baseline guard through the real retrain steps: a challenger that learns nothing is rejected because it is
significantly worse than logistic regression on the same holdout; with ``gate.baseline.promote`` the baseline
takes its place, as its own run and version, gated like any challenger."""

from __future__ import annotations

import pytest

from ml.ledger import EventKind, read_events
from ml.registry.store import CHAMPION, version_by_alias
from ml.simulation.replay import process_landing_direct
from tests.ml.weather_home import bootstrap_home, weather_copy

pytestmark = pytest.mark.slow
LEARNS_NOTHING = {"family": "python://tests.ml.training.broken_trainers:constant"}


def _gates(paths, contract) -> list[dict]:
    return read_events(paths.ledger, contract.name, [EventKind.GATE_DECISION])


def test_a_challenger_worse_than_the_baseline_is_rejected_with_that_reason(tmp_path):
    contract = weather_copy("guarded", LEARNS_NOTHING)
    paths = bootstrap_home(tmp_path, contract)
    process_landing_direct(paths, contract)
    (gate,) = _gates(paths, contract)
    assert gate["decision"] == "reject" and "significantly worse than the logistic baseline" in gate["reason"]
    assert gate["baseline_value"] > 0.8 and "logistic baseline" in gate["blocking_checks"]
    assert version_by_alias(paths, contract.model_name, CHAMPION) is None


def test_with_promote_the_baseline_takes_the_place_of_a_challenger_that_lost_to_it(tmp_path):
    contract = weather_copy("baseline_promoted", LEARNS_NOTHING, gate={"baseline": {"check": True, "promote": True}})
    paths = bootstrap_home(tmp_path, contract)
    process_landing_direct(paths, contract)
    (gate,) = _gates(paths, contract)
    assert gate["decision"] == "promote" and gate["family"] == "logistic"
    champion = version_by_alias(paths, contract.model_name, CHAMPION)
    assert champion is not None and champion.tags["ct.family"] == "logistic"
