"""Sign-flip permutation test on per-row losses (log_loss, brier, mae, rmse)."""

import itertools
import math

import numpy as np
import pytest

from ml.stats import compare_paired
from ml.stats.metrics import row_losses
from ml.stats.paired import flipped_sums, largest_rejecting_count, resampling_test
from tests.ml.stats.stats_scenarios import classification, regression


def test_each_row_is_flipped_independently_with_probability_one_half() -> None:
    n, resamples = 40, 4000
    # Summing the identity matrix's columns reads the flip matrix back out.
    flips, sizes = flipped_sums(np.eye(n), resamples, seed=3)
    assert set(np.unique(flips)) == {0.0, 1.0}
    assert np.array_equal(sizes, flips.sum(axis=1))
    share = flips.mean(axis=0)
    assert np.all(np.abs(share - 0.5) <= 4 * math.sqrt(0.25 / resamples))
    correlations = np.corrcoef(flips.T)[np.triu_indices(n, k=1)]
    assert np.all(np.abs(correlations) <= 4.5 / math.sqrt(resamples))
    assert len({row.tobytes() for row in flips}) == resamples  # chunks never repeat a draw


def test_p_value_converges_to_the_exact_enumerated_sign_flip_p_value() -> None:
    y, champion, challenger = regression(12, np.random.default_rng(5), (1.0, 0.8))
    difference = np.abs(champion - y) - np.abs(challenger - y)
    # Exact randomisation p-value: share of all 2^n flip sets whose flipped sum is <= 0.
    patterns = np.array(list(itertools.product((0.0, 1.0), repeat=difference.size)))
    exact = float(np.mean(patterns @ difference <= 0.0))
    resamples = 20_000
    result = compare_paired("mae", y, champion, challenger, n_resamples=resamples, seed=1)
    assert abs(result.p_value - exact) <= 4 * math.sqrt(exact * (1 - exact) / resamples) + 1 / resamples


def test_rmse_test_equals_the_sign_flip_test_on_squared_errors() -> None:
    # sqrt is monotone, so flipping rows of squared errors ranks resamples the same way for MSE and RMSE.
    y, champion, challenger = regression(300, np.random.default_rng(6), (1.0, 0.9))
    result = compare_paired("rmse", y, champion, challenger, n_resamples=999, seed=4)
    squared_difference = (champion - y) ** 2 - (challenger - y) ** 2
    _, mse_p, _, _ = resampling_test(
        squared_difference[:, None], lambda means: means[0], null_effect=0.0, alpha=0.05, n_resamples=999, seed=4
    )
    assert result.p_value == mse_p
    expected = math.sqrt(np.mean((champion - y) ** 2)) - math.sqrt(np.mean((challenger - y) ** 2))
    assert result.effect == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("metric", ["log_loss", "brier", "mae", "rmse"])
def test_results_are_reproducible_from_the_seed(metric: str) -> None:
    generate = regression if metric in ("mae", "rmse") else classification
    y, champion, challenger = generate(400, np.random.default_rng(7), (1.0, 0.97))
    first = compare_paired(metric, y, champion, challenger, n_resamples=999, seed=11)
    again = compare_paired(metric, y, champion, challenger, n_resamples=999, seed=11)
    other = compare_paired(metric, y, champion, challenger, n_resamples=999, seed=12)
    assert first == again
    assert (first.p_value, first.ci_low) != (other.p_value, other.ci_low)


@pytest.mark.parametrize("metric", ["log_loss", "brier", "mae", "rmse"])
def test_identical_predictions_are_not_superior_but_are_non_inferior(metric: str) -> None:
    generate = regression if metric in ("mae", "rmse") else classification
    y, champion = generate(200, np.random.default_rng(8), (1.0,))
    superiority = compare_paired(metric, y, champion, champion.copy(), n_resamples=199)
    assert (superiority.effect, superiority.p_value, superiority.ci_low, superiority.ci_high) == (0.0, 1.0, 0.0, 0.0)
    non_inferiority = compare_paired(
        metric, y, champion, champion.copy(), rule="non_inferiority", margin=0.01, n_resamples=199
    )
    assert non_inferiority.p_value == pytest.approx(1 / 200)


def test_non_inferiority_verdict_flips_exactly_at_the_interval_lower_bound() -> None:
    # B=1999, alpha=0.05: p < alpha allows at most 98 resampled estimates at or below the null, so the
    # lower bound is the 99th smallest estimate; with B=2000 it is the 100th.
    assert largest_rejecting_count(0.05, 1999) == 98
    assert largest_rejecting_count(0.05, 2000) == 99
    y, champion, challenger = classification(500, np.random.default_rng(9), (1.0, 1.05))
    ci_low = compare_paired("brier", y, champion, challenger, n_resamples=1999, seed=2).ci_low
    assert ci_low < 0.0

    def p_value(margin: float) -> float:
        return compare_paired(
            "brier", y, champion, challenger, rule="non_inferiority", margin=margin, n_resamples=1999, seed=2
        ).p_value

    assert p_value(-ci_low * (1 + 1e-9)) < 0.05  # null boundary just below the bound: rejected
    assert p_value(-ci_low * (1 - 1e-9)) >= 0.05  # null boundary just above it: not rejected


def test_loss_effects_are_champion_minus_challenger() -> None:
    y, champion, challenger = classification(1000, np.random.default_rng(10), (1.0, 0.5))
    for metric in ("log_loss", "brier"):
        result = compare_paired(metric, y, champion, challenger, n_resamples=199)
        losses = row_losses(metric, y, champion).mean(), row_losses(metric, y, challenger).mean()
        assert (result.champion_value, result.challenger_value) == pytest.approx(losses)
        assert result.effect == pytest.approx(losses[0] - losses[1]) and result.effect > 0
        assert result.p_value < 0.05


def test_log_loss_at_one_hundred_thousand_rows_and_2000_resamples() -> None:
    y, champion, challenger = classification(100_000, np.random.default_rng(11), (1.0, 0.85))
    result = compare_paired("log_loss", y, champion, challenger, n_resamples=2000, seed=0)
    expected = row_losses("log_loss", y, champion).mean() - row_losses("log_loss", y, challenger).mean()
    assert result.n == 100_000
    assert result.effect == pytest.approx(expected, rel=1e-9)
    assert result.ci_low < result.effect < result.ci_high
    assert result.p_value == pytest.approx(1 / 2001)  # ~10 standard errors: no resample reaches 0
