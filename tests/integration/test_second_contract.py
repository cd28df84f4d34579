"""A second contract, with no code of its own, runs the whole loop: river's Agrawal stream with a known drift.

The scenario (include/scenarios/agrawal_default.yaml) replays one day per batch through the direct engine
(the step functions the DAGs call, without Airflow): bootstrap, a stable stretch, an abrupt concept drift at
the contract's ``source.options.drift_at``, then the days after it. The loop must promote a first model,
stay quiet while the concept holds, alarm within two batches of the drift, retrain, and promote the
retrained model through the gate, leaving MLflow's ``champion`` alias on it.

Why this is not flaky: the stream and the training seed are fixed, and the margins are wide. In the
stable days the champion's AUC (about 0.999) is far above its alarm bound (holdout AUC minus 0.05) and every
column's PSI stays under 0.13 against a threshold of 0.25; after the drift its AUC is about 0.5 (p < 1e-60),
and the gate compares about 0.5 with about 0.99 on 432 rows. The same story held on five data seeds.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from ct.simulate import simulate
from ml.contract import Contract, load_contract
from ml.settings import PlatformPaths, tracking_uri
from ml.simulation.scenario import load_scenario
from ml.simulation.summary import simulation_report

REPO = Path(__file__).resolve().parents[2]
CONTRACT = load_contract(REPO / "include" / "contracts" / "agrawal.yaml")
SCENARIO = load_scenario(REPO / "include" / "scenarios" / "agrawal_default.yaml")
ALARM_WITHIN = 2  # batches, counting the first batch that holds rows after the drift


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlatformPaths, dict]:
    paths = PlatformPaths(tmp_path_factory.mktemp("agrawal") / "home")
    simulate(paths, CONTRACT, SCENARIO, engine="direct")
    # ml.registry.store.client() must not leak this home's store to later homes in the process
    assert os.environ.get("MLFLOW_TRACKING_URI") is None
    return paths, simulation_report(paths.ledger, CONTRACT.name)


def _replayed_batches(report: dict) -> list[dict]:
    return [b for b in report["batches"] if not b["batch_id"].startswith("backfill-")]


def _split_at_drift(report: dict, contract: Contract) -> tuple[list[dict], list[dict]]:
    """Daily batches before the drift day, and from it on (batch ids are the days they cover)."""
    drift = pd.Timestamp(contract.source.options["drift_at"], tz="UTC")
    batches = _replayed_batches(report)
    stable = [b for b in batches if pd.Timestamp(b["batch_id"], tz="UTC") + pd.Timedelta("1D") <= drift]
    return stable, batches[len(stable) :]


def _gate(report: dict, trigger: str) -> dict:
    gates = [g for g in report["gates"] if g["trigger"] == trigger]
    assert len(gates) == 1, report["gates"]
    return gates[0]


def test_every_batch_is_accepted(replayed) -> None:
    _, report = replayed
    assert report["totals"]["quarantined"] == 0
    assert [b["rows"] for b in _replayed_batches(report)] == [720] * len(_replayed_batches(report))


def test_bootstrap_promotes_a_first_model(replayed) -> None:
    _, report = replayed
    first = _gate(report, "bootstrap")
    assert first["decision"] == "promote" and first["champion_version"] is None
    assert first["challenger_value"] > CONTRACT.gate.floor


def test_no_alarm_while_the_concept_holds(replayed) -> None:
    _, report = replayed
    stable, _ = _split_at_drift(report, CONTRACT)
    assert len(stable) >= 3
    assert [b["batch_id"] for b in stable if b["alarm"]] == []
    first = _gate(report, "bootstrap")
    assert {b["champion_version"] for b in stable} == {first["version"]}


def test_the_drift_raises_an_alarm_within_two_batches(replayed) -> None:
    _, report = replayed
    _, drifted = _split_at_drift(report, CONTRACT)
    alarms = [index for index, batch in enumerate(drifted) if batch["alarm"]]
    assert alarms and alarms[0] < ALARM_WITHIN, [(b["batch_id"], b["alarm"]) for b in drifted]
    assert drifted[alarms[0]]["alarm_reason"] == "performance"  # the features never move: only labels tell
    assert drifted[alarms[0]]["drifted_columns"] == []


def test_the_retrain_gate_promotes_a_new_champion(replayed) -> None:
    _, report = replayed
    first, retrain = _gate(report, "bootstrap"), _gate(report, "performance")
    assert retrain["decision"] == "promote", retrain["reason"]
    assert retrain["champion_version"] == first["version"] and retrain["version"] != first["version"]
    assert retrain["challenger_value"] > retrain["champion_value"] + CONTRACT.gate.min_effect
    assert retrain["p_value"] < CONTRACT.gate.alpha
    assert report["totals"]["alarms"] == 2 and report["totals"]["promotions"] == 2  # bootstrap and drift


def test_the_new_champion_serves_the_rest_of_the_stream_quietly(replayed) -> None:
    _, report = replayed
    _, drifted = _split_at_drift(report, CONTRACT)
    retrain = _gate(report, "performance")
    after = drifted[[b["batch_id"] for b in drifted].index(retrain["signal_batch"]) + 1 :]
    assert after, "the scenario should replay at least one batch after the retrain"
    assert {b["champion_version"] for b in after} == {retrain["version"]}
    assert not any(b["alarm"] for b in after)
    assert min(b["champion_metric"] for b in after) > 0.95  # it has learned the new concept


def test_mlflow_champion_alias_is_on_the_promoted_version(replayed) -> None:
    from mlflow import MlflowClient

    paths, report = replayed
    uri = tracking_uri(paths, environ={})
    assert uri.startswith("sqlite:///") and str(paths.home) in uri
    champion = MlflowClient(tracking_uri=uri).get_model_version_by_alias(CONTRACT.model_name, "champion")
    assert champion.name == "ct-agrawal"
    assert str(champion.version) == _gate(report, "performance")["version"]
    assert champion.tags["ct.gate.decision"] == "promote"
