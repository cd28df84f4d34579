"""Calibration of the gate over seeded simulations, for every metric.

- Two equally good models (independent noisy scorers of the same signal) must be promoted by the
  superiority test at a rate <= alpha (+ 3 binomial standard errors for the simulation's own noise).
- A true improvement equal to the computed MDE must be detected at about the nominal power.
- A challenger worse by exactly the margin must pass non-inferiority at a rate <= alpha.

Population effects come from quadrature in `stats_scenarios`, so "true improvement" has no Monte Carlo
error. Sample sizes and resample counts keep this file to a few seconds on two cores.
"""

import math

import numpy as np
import pytest

from ml.stats import METRICS, compare_paired
from tests.ml.stats.stats_scenarios import simulate, true_effect

ALPHA = 0.05
POWER = 0.8
SIMULATIONS = 400
# Less noise than the champion's sigma=1.0; chosen so the rows needed for 80 % power are ~1.8k-8k.
CHALLENGER_SIGMA = {"auc": 0.8, "accuracy": 0.8, "log_loss": 0.8, "brier": 0.8, "mae": 0.9, "rmse": 0.9}
# The normal-approximation MDE ignores two things that cost a little power: the permutation p-value is
# estimated from a finite number of resamples (499 here: about -0.01) and the exact McNemar test is
# discrete and conservative (about -0.01 to -0.02). The lower power bound allows for them.
POWER_ALLOWANCE = 0.02


def _binomial_se(rate: float) -> float:
    return math.sqrt(rate * (1.0 - rate) / SIMULATIONS)


def _rejections(metric: str, n: int, sigmas: tuple[float, float], seed: int, **settings: float) -> list:
    rng = np.random.default_rng(seed)
    results = []
    for i in range(SIMULATIONS):
        y, champion, challenger = simulate(metric, n, rng, sigmas)
        results.append(compare_paired(metric, y, champion, challenger, seed=i, **settings))
    return results


@pytest.mark.parametrize("metric", METRICS)
def test_equally_good_models_are_promoted_at_most_alpha(metric: str) -> None:
    results = _rejections(metric, 500, (1.0, 1.0), seed=100 + METRICS.index(metric), n_resamples=199)
    rate = np.mean([r.p_value < ALPHA for r in results])
    assert rate <= ALPHA + 3 * _binomial_se(ALPHA), rate


@pytest.mark.parametrize("metric", METRICS)
def test_true_improvement_equal_to_the_mde_is_detected_with_nominal_power(metric: str) -> None:
    sigmas = (1.0, CHALLENGER_SIGMA[metric])
    delta = true_effect(metric, *sigmas)
    pilot = compare_paired(
        metric, *simulate(metric, 20_000, np.random.default_rng(99), sigmas), min_effect=delta, n_resamples=199
    )
    n = pilot.required_n  # the rows at which the MDE equals the true improvement
    results = _rejections(metric, n, sigmas, seed=200 + METRICS.index(metric), n_resamples=499)
    # Premise: at this n the MDE each simulation computes is (on average) the true improvement.
    assert np.mean([r.mde for r in results]) == pytest.approx(delta, rel=0.05)
    rate = np.mean([r.p_value < ALPHA for r in results])
    assert POWER - POWER_ALLOWANCE - 3 * _binomial_se(POWER) <= rate <= POWER + 3 * _binomial_se(POWER), (n, rate)


@pytest.mark.parametrize("metric", METRICS)
def test_challenger_worse_by_exactly_the_margin_is_called_non_inferior_at_most_alpha(metric: str) -> None:
    sigmas = (1.0, 1.15)
    margin = -true_effect(metric, *sigmas)
    assert margin > 0
    results = _rejections(
        metric, 800, sigmas, seed=300 + METRICS.index(metric), rule="non_inferiority", margin=margin, n_resamples=199
    )
    rate = np.mean([r.p_value < ALPHA for r in results])
    assert rate <= ALPHA + 3 * _binomial_se(ALPHA), rate
