"""Paired accuracy tests: exact McNemar for superiority, Tango's score test for non-inferiority."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.stats import binomtest

from ml.stats import compare_paired
from ml.stats.mcnemar import mcnemar_exact_test, tango_score_test, tango_z


def _paired_rows(n: int, b: int, c: int, both_wrong: int = 0) -> tuple[np.ndarray, ...]:
    """Labels and scores with exactly b champion-only-correct and c challenger-only-correct rows."""
    y = np.ones(n)
    champion = np.full(n, 0.9)
    challenger = np.full(n, 0.9)
    champion[:c] = 0.1  # rows [0, c): only the challenger is right
    challenger[c : c + b] = 0.1  # rows [c, c + b): only the champion is right
    wrong = slice(c + b, c + b + both_wrong)
    champion[wrong] = challenger[wrong] = 0.1
    return y, champion, challenger


@pytest.mark.parametrize(("b", "c"), [(0, 1), (3, 9), (10, 10), (25, 40), (40, 25), (7, 0)])
def test_exact_p_value_is_the_one_sided_binomial_test_on_discordant_rows(b: int, c: int) -> None:
    y, champion, challenger = _paired_rows(200, b, c, both_wrong=5)
    result = compare_paired("accuracy", y, champion, challenger)
    assert result.test == "mcnemar_exact"
    assert result.effect == pytest.approx((c - b) / 200)
    assert result.challenger_value - result.champion_value == pytest.approx(result.effect)
    assert result.p_value == pytest.approx(binomtest(c, b + c, 0.5, alternative="greater").pvalue, rel=1e-9)


def test_no_discordant_rows_gives_p_one_and_a_point_interval() -> None:
    y, champion, _ = _paired_rows(50, 0, 0)
    result = compare_paired("accuracy", y, champion, champion.copy())
    assert (result.p_value, result.ci_low, result.ci_high, result.effect) == (1.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize(("b", "c", "n", "theta0"), [(10, 20, 200, -0.05), (5, 3, 100, 0.02), (30, 30, 500, -0.1)])
def test_tango_restricted_mle_maximises_the_constrained_likelihood(b: int, c: int, n: int, theta0: float) -> None:
    # Cells: challenger-only correct (prob p_b + theta0), champion-only (p_b), concordant (the rest).
    def negative_log_likelihood(p_b: float) -> float:
        p_c = p_b + theta0
        return -(c * math.log(p_c) + b * math.log(p_b) + (n - b - c) * math.log(1.0 - p_b - p_c))

    lowest = max(0.0, -theta0) + 1e-12
    best = minimize_scalar(negative_log_likelihood, bounds=(lowest, (1.0 - theta0) / 2 - 1e-12), method="bounded")
    p_b = best.x
    expected_z = (c - b - n * theta0) / math.sqrt(n * (2.0 * p_b + theta0 * (1.0 - theta0)))
    assert tango_z(b, c, n, theta0) == pytest.approx(expected_z, rel=1e-5)


def test_tango_statistic_is_zero_at_the_observed_difference() -> None:
    assert tango_z(12, 30, 400, (30 - 12) / 400) == pytest.approx(0.0, abs=1e-12)


def test_non_inferiority_uses_tango_and_passes_an_equal_challenger_with_a_generous_margin() -> None:
    y, champion, challenger = _paired_rows(5000, 100, 100)
    result = compare_paired("accuracy", y, champion, challenger, rule="non_inferiority", margin=0.02)
    assert result.test == "tango_score"
    assert result.p_value < 0.001
    assert result.ci_low < 0.0 < result.ci_high


counts = st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(0, 300))


@settings(derandomize=True, database=None, max_examples=300, deadline=None)
@given(counts, st.sampled_from([0.01, 0.05, 0.1]), st.sampled_from([0.0, 0.01, 0.05]))
def test_intervals_agree_with_their_tests(cells: tuple[int, int, int], alpha: float, margin: float) -> None:
    b, c, concordant = cells
    n = b + c + concordant
    if n == 0:
        return
    exact_p, exact_low, exact_high = mcnemar_exact_test(b, c, n, alpha=alpha)
    assert (exact_low > 0.0) == (exact_p < alpha)
    assert exact_low <= (c - b) / n + 1e-12 <= exact_high + 2e-12
    score_p, score_low, score_high = tango_score_test(b, c, n, null_effect=-margin, alpha=alpha)
    if not math.isclose(score_low, -margin, abs_tol=1e-9):  # a p-value of exactly alpha is either way
        assert (score_low > -margin) == (score_p < alpha)
    assert score_low <= (c - b) / n + 1e-9 and (c - b) / n <= score_high + 1e-9
