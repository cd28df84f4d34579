"""Every model family trains on real weather rows, scores raw rows, saves and loads back to the same scores, and
retrains to the same scores from the same seed; a team's trainer is checked against its protocol."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ml.contract import ContractError, parse_contract
from ml.serving.ct_scoring import load_scorer, score
from ml.simulation.sources import load_source
from ml.training.custom import TrainerError
from ml.training.trainers import train_family

REPO = Path(__file__).resolve().parents[3]
WEATHER = REPO / "include" / "contracts" / "weather.yaml"
EXAMPLE = "python://ml.training.examples.random_forest:train"
BROKEN = "python://tests.ml.training.broken_trainers"


def _contract(model: dict):
    raw = yaml.safe_load(WEATHER.read_text(encoding="utf-8"))
    raw["training"] = {**copy.deepcopy(raw["training"]), "epochs": 30, "device": "cpu", "model": model}
    return parse_contract(raw, WEATHER)


@pytest.fixture(scope="module")
def rows() -> tuple[pd.DataFrame, pd.DataFrame]:
    history = load_source(_contract({"family": "logistic"}))
    stamps = history["date"]
    train = history[(stamps >= pd.Timestamp("1963-01-01", tz="UTC")) & (stamps < pd.Timestamp("1966-01-01", tz="UTC"))]
    test = history[(stamps >= pd.Timestamp("1966-01-01", tz="UTC")) & (stamps < pd.Timestamp("1967-01-01", tz="UTC"))]
    return train.reset_index(drop=True), test.reset_index(drop=True)


FAMILIES = [
    {"family": "mlp", "hidden": [16]},
    {"family": "linear"},
    {"family": "hist_gbt", "max_iter": 40},
    {"family": "logistic"},
    {"family": EXAMPLE, "options": {"n_estimators": 20}},
]


@pytest.mark.parametrize("model", FAMILIES, ids=lambda m: m["family"].rsplit(":", 1)[-1])
def test_a_family_scores_raw_rows_and_saves_and_loads_to_the_same_scores(model, rows, tmp_path):
    train, test = rows
    contract = _contract(model)
    result = train_family(train, contract, seed=3)
    scores = score(result.model, test)
    assert scores.shape == (len(test),) and np.all((scores >= 0) & (scores <= 1))
    from ml.stats.metrics import auc_value

    assert auc_value(test["rain"].to_numpy(), scores) > 0.7  # every family learns something of the rain (0.5: nothing)
    result.model.save(tmp_path / "model")
    assert np.array_equal(score(load_scorer(tmp_path / "model"), test), scores)
    again = train_family(train, contract, seed=3)
    assert np.array_equal(score(again.model, test), scores)  # same seed, same rows: the same model (CPU)


def test_ridge_is_for_regression_and_logistic_for_classification(rows):
    with pytest.raises(ValueError, match="ridge is for regression"):
        train_family(rows[0], _contract({"family": "ridge"}), seed=0)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"family": "xgb"}, "not a known family"),
        ({"family": "python://no colon"}, "not a known family"),
        ({"family": "hist_gbt", "hidden": [8]}, "hidden"),
        ({"family": "hist_gbt", "learning_rate": 0}, "learning_rate"),
        ({"family": "logistic", "regularization": -1}, "regularization"),
        ({"family": "mlp", "max_iter": 10}, "max_iter"),
    ],
)
def test_family_settings_are_validated_like_the_rest_of_the_contract(model, message):
    with pytest.raises(ContractError, match=message):
        _contract(model)


@pytest.mark.parametrize(
    ("trainer", "rule"),
    [
        ("raises", "raised RuntimeError: the team's bug"),
        ("non_finite", "non-finite scores"),
        ("wrong_shape", "shape"),
        ("no_save", "lacks \\['save'"),
        ("not_a_model", "lacks"),
        ("bad_tuple", "not \\(model, log dict\\)"),
        ("missing_function", "has no function 'missing_function'"),
    ],
)
def test_a_broken_trainer_fails_with_its_name_and_the_rule_it_broke(trainer, rule, rows):
    path = f"{BROKEN}:{trainer}"
    with pytest.raises(TrainerError, match=rule) as error:
        train_family(rows[0], _contract({"family": path}), seed=0)
    assert path in str(error.value)


def test_a_trainer_module_that_does_not_import_is_named():
    contract = _contract({"family": "python://no_such_team_module:train"})
    with pytest.raises(TrainerError, match="cannot import module 'no_such_team_module'"):
        train_family(pd.DataFrame({"date": [], "rain": []}), contract, seed=0)
