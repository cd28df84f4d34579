"""``ct reproduce`` for the families that are not torch: scikit-learn and a team's trainer retrain from the
bundle to bit-identical holdout scores on the CPU, and the result says which rule it applied."""

from __future__ import annotations

import pytest

from ml.registry.reproduce import format_reproduction, reproduce
from ml.simulation.replay import process_landing_direct
from tests.ml.weather_home import bootstrap_home, weather_copy

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("model", "rule"),
    [
        ({"family": "hist_gbt", "max_iter": 40}, "scikit-learn hist_gbt"),
        ({"family": "python://ml.training.examples.random_forest:train", "options": {"n_estimators": 20}}, "team"),
    ],
    ids=["hist_gbt", "team-trainer"],
)
def test_a_family_reproduces_bit_identical_holdout_scores(model, rule, tmp_path):
    contract = weather_copy("again", model)
    paths = bootstrap_home(tmp_path, contract)
    process_landing_direct(paths, contract)
    result = reproduce(paths, contract, "1")
    assert result.family == model["family"] and rule in result.rule
    assert result.weights_identical and result.max_weight_difference == 0.0  # here: every holdout score
    assert result.matches, format_reproduction(result)
    assert "holdout scores" in format_reproduction(result)
