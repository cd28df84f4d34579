"""Point values against scikit-learn, and coverage of the single-model intervals used for the first-model floor."""

import math

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    log_loss,
    mean_absolute_error,
    roc_auc_score,
    root_mean_squared_error,
)

from ml.stats import LOG_LOSS_EPS, METRICS, delong_paired, metric_confidence_interval, metric_value
from tests.ml.stats.stats_scenarios import population_value, simulate

REFERENCE = {
    "auc": roc_auc_score,
    "accuracy": lambda y, s: accuracy_score(y, s >= 0.5),
    "log_loss": log_loss,
    "brier": brier_score_loss,
    "mae": mean_absolute_error,
    "rmse": root_mean_squared_error,
}


@pytest.mark.parametrize("metric", METRICS)
def test_metric_value_equals_sklearn(metric: str) -> None:
    y, scores = simulate(metric, 3000, np.random.default_rng(1), (1.0,))
    assert metric_value(metric, y, scores) == pytest.approx(REFERENCE[metric](y, scores), rel=1e-9)


def test_log_loss_clips_certain_mistakes_to_the_documented_epsilon() -> None:
    value = metric_value("log_loss", [1, 0, 1, 0], [0.0, 0.0, 1.0, 1.0])
    assert value == pytest.approx(2 * -math.log(LOG_LOSS_EPS) / 4, rel=1e-6)


def test_accuracy_predicts_the_positive_class_at_the_threshold() -> None:
    assert metric_value("accuracy", [1, 0, 0], [0.7, 0.7, 0.2], threshold=0.7) == pytest.approx(2 / 3)
    assert metric_value("accuracy", [1, 0, 0], [0.7, 0.7, 0.2], threshold=0.75) == pytest.approx(2 / 3)
    assert metric_value("accuracy", [1, 0, 1], [0.7, 0.7, 0.2], threshold=0.75) == pytest.approx(1 / 3)


def test_auc_interval_uses_delong_variance_and_accuracy_interval_is_clopper_pearson() -> None:
    y, scores = simulate("auc", 800, np.random.default_rng(2), (1.0,))
    value, low, high = metric_confidence_interval("auc", y, scores, alpha=0.05)
    se = math.sqrt(delong_paired(y, scores, scores).var_a)
    assert (value - low, high - value) == pytest.approx((1.6448536 * se, 1.6448536 * se), rel=1e-6)
    correct = int(np.sum((scores >= 0.5) == (y == 1)))
    expected = binomtest(correct, y.size).proportion_ci(confidence_level=0.9, method="exact")
    assert metric_confidence_interval("accuracy", y, scores)[1:] == pytest.approx((expected.low, expected.high))


COVERAGE_SIMS = 400


@pytest.mark.parametrize("metric", METRICS)
def test_interval_bounds_miss_the_population_value_at_most_alpha_each_side(metric: str) -> None:
    # The lower bound is the first-model floor's evidence, so each one-sided miss rate must be <= alpha
    # (+ 3 binomial standard errors over the simulations).
    truth = population_value(metric, 1.0)
    rng = np.random.default_rng(METRICS.index(metric))
    misses = np.zeros(2)
    for _ in range(COVERAGE_SIMS):
        y, scores = simulate(metric, 300, rng, (1.0,))
        value, low, high = metric_confidence_interval(metric, y, scores, alpha=0.05)
        assert low <= value <= high
        misses += (truth < low, truth > high)
    bound = 0.05 + 3 * math.sqrt(0.05 * 0.95 / COVERAGE_SIMS)
    assert np.all(misses / COVERAGE_SIMS <= bound), misses / COVERAGE_SIMS
