"""The model-families benchmark splits as the platform does, builds valid contracts, and judges the default fairly."""

from __future__ import annotations

import pandas as pd
import pytest

from bench import models as bench
from ml.contract import parse_contract


@pytest.fixture(scope="module")
def phishing():
    return bench.river_dataset("phishing")


def test_holdout_is_the_newest_fraction_or_at_least_min_rows(phishing):
    contract = phishing.contract  # holdout: 30 %, at least 200 rows
    rows = pd.DataFrame({"x": range(1000)})
    train, holdout = bench.split_holdout(rows, contract)
    assert (len(train), len(holdout)) == (700, 300) and holdout["x"].iloc[0] == 700
    train, holdout = bench.split_holdout(rows.head(500), contract)
    assert (len(train), len(holdout)) == (300, 200)
    with pytest.raises(ValueError, match="cannot hold"):
        bench.split_holdout(rows.head(200), contract)


def test_river_file_becomes_a_contract_with_numeric_features_and_time_ordered_rows(phishing):
    contract = phishing.contract
    assert contract.target == "is_phishing" and len(contract.numeric_features) == 9
    assert len(phishing.train) + len(phishing.holdout) == 1250
    assert phishing.train["ts"].max() < phishing.holdout["ts"].min()


@pytest.mark.parametrize("family", list(bench.FAMILIES))
def test_with_family_changes_only_the_model_and_the_device(phishing, family):
    contract = bench.with_family(phishing.contract, family)
    expected = (bench.FAMILIES[family] or {"family": "mlp"})["family"]
    assert contract.training.model.family == expected
    assert contract.training.device == "cpu"
    assert contract.features == phishing.contract.features and contract.gate == phishing.contract.gate


def test_the_default_keeps_the_mlp_of_a_shipped_contract():
    weather = bench.load_dataset("weather", 0).contract
    assert bench.with_family(weather, "mlp").training.model == weather.training.model


def _runs(aucs: dict[str, float]) -> dict:
    return {("d", f): bench.FamilyRun(f, "d", aucs=[auc]) for f, auc in aucs.items()}


@pytest.mark.parametrize(
    ("aucs", "recommend", "close", "above"),
    [
        ({"mlp": 0.86, "hist_gbt": 0.865, "logistic": 0.84}, "mlp", True, True),
        ({"mlp": 0.84, "hist_gbt": 0.87, "logistic": 0.83}, "hist_gbt", False, True),
        ({"mlp": 0.865, "hist_gbt": 0.87, "logistic": 0.866}, "hist_gbt", True, False),
    ],
)
def test_verdict_keeps_the_default_only_when_close_to_the_best_and_not_under_the_baseline(
    aucs, recommend, close, above
):
    verdict = bench.verdict(_runs(aucs), "d", list(aucs))
    assert (verdict["recommend"], verdict["default_close"], verdict["default_beats_baseline"]) == (
        recommend,
        close,
        above,
    )


def test_a_failed_family_is_reported_not_ranked():
    runs = _runs({"logistic": 0.8})
    runs[("d", "mlp")] = bench.FamilyRun("mlp", "d", errors=["seed 0: TrainingError: boom"])
    verdict = bench.verdict(runs, "d", ["mlp", "logistic"])
    assert verdict["best"] == "logistic" and verdict["recommend"] == "logistic"
    assert bench.failures(runs) == ["- mlp on d: seed 0: TrainingError: boom"]


def test_a_family_trains_saves_as_pyfunc_and_scores_in_batch(phishing, tmp_path):
    run = bench.evaluate(phishing, "logistic", [0], tmp_path)
    assert not run.errors and 0.5 < run.aucs[0] <= 1.0
    scoring = bench.scoring_throughput(run.model_folder, phishing, 2_000)
    assert scoring["rows"] == 2_000 and scoring["rows_per_second"] > 0


def test_the_contract_dict_is_valid_for_every_river_file():
    for name in bench.RIVER_FILES:
        assert parse_contract(bench.river_contract(name)).name == name
