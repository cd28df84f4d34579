"""DeLong's paired AUC test: values against scikit-learn, (co)variances against brute force and bootstrap."""

import numpy as np
import pytest
from scipy.stats import norm, rankdata
from sklearn.metrics import roc_auc_score

from ml.stats import compare_paired, delong_paired, metric_value
from tests.ml.stats.stats_scenarios import classification


def _dataset(n: int, seed: int, tied: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, a, b = classification(n, np.random.default_rng(seed), (1.0, 0.7))
    if tied:  # coarse scores create many ties, where midranks matter
        a, b = np.round(a, 1), np.round(b, 1)
    return y, a, b


def _brute_force(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, ...]:
    """DeLong (1988) straight from the definition: an m x n kernel matrix per model."""
    components = []
    for scores in (a, b):
        x, z = scores[y == 1], scores[y == 0]
        kernel = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        components.append((kernel.mean(), kernel.mean(axis=1), kernel.mean(axis=0)))
    (auc_a, v10_a, v01_a), (auc_b, v10_b, v01_b) = components
    m, n = v10_a.size, v01_a.size

    def cov(u: np.ndarray, v: np.ndarray) -> float:
        return float(np.sum((u - u.mean()) * (v - v.mean())) / (u.size - 1))

    var_a = cov(v10_a, v10_a) / m + cov(v01_a, v01_a) / n
    var_b = cov(v10_b, v10_b) / m + cov(v01_b, v01_b) / n
    cov_ab = cov(v10_a, v10_b) / m + cov(v01_a, v01_b) / n
    return auc_a, auc_b, var_a, var_b, cov_ab


@pytest.mark.parametrize(("n", "seed", "tied"), [(50, 0, False), (301, 1, True), (5000, 2, False), (5000, 3, True)])
def test_aucs_equal_sklearn(n: int, seed: int, tied: bool) -> None:
    y, a, b = _dataset(n, seed, tied)
    result = delong_paired(y, a, b)
    assert result.auc_a == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert result.auc_b == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    assert metric_value("auc", y, b) == pytest.approx(roc_auc_score(y, b), abs=1e-12)


@pytest.mark.parametrize(("n", "seed", "tied"), [(12, 4, False), (80, 5, True), (400, 6, False)])
def test_fast_algorithm_equals_brute_force(n: int, seed: int, tied: bool) -> None:
    y, a, b = _dataset(n, seed, tied)
    result = delong_paired(y, a, b)
    fast = (result.auc_a, result.auc_b, result.var_a, result.var_b, result.cov_ab)
    assert fast == pytest.approx(_brute_force(y, a, b), rel=1e-10, abs=1e-15)


def _auc_rows(scores: np.ndarray, positives: int) -> np.ndarray:
    """AUC of each row of `scores`, whose first `positives` columns are the positive rows."""
    ranks = rankdata(scores, axis=1)
    negatives = scores.shape[1] - positives
    return (ranks[:, :positives].sum(axis=1) - positives * (positives + 1) / 2) / (positives * negatives)


def test_variance_of_difference_agrees_with_paired_bootstrap_within_15_percent() -> None:
    # Stratified paired bootstrap (classes resampled separately, as DeLong conditions on their sizes).
    # With 2000 replicates the bootstrap variance itself has ~3 % Monte Carlo error, so 15 % leaves room
    # for the O(1/n) difference between the two estimators at n=600 while still catching a wrong factor.
    y, a, b = _dataset(600, 7, tied=False)
    rng = np.random.default_rng(8)
    positives, negatives = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rows = np.hstack(
        [rng.choice(positives, size=(2000, positives.size)), rng.choice(negatives, size=(2000, negatives.size))]
    )
    differences = _auc_rows(b[rows], positives.size) - _auc_rows(a[rows], positives.size)
    result = delong_paired(y, a, b)
    assert np.var(differences, ddof=1) == pytest.approx(result.var_diff, rel=0.15)
    assert np.mean(differences) == pytest.approx(result.auc_b - result.auc_a, abs=0.2 * np.sqrt(result.var_diff))


def test_swapping_models_swaps_the_result() -> None:
    y, a, b = _dataset(500, 9, tied=True)
    forward, backward = delong_paired(y, a, b), delong_paired(y, b, a)
    assert (forward.auc_a, forward.var_a) == pytest.approx((backward.auc_b, backward.var_b))
    assert forward.cov_ab == pytest.approx(backward.cov_ab)


def test_compare_paired_auc_is_a_one_sided_z_test_on_delong_variance() -> None:
    y, a, b = _dataset(2000, 10, tied=False)
    result = delong_paired(y, a, b)
    comparison = compare_paired("auc", y, a, b, alpha=0.05)
    se = np.sqrt(result.var_diff)
    assert comparison.test == "delong"
    assert comparison.effect == pytest.approx(result.auc_b - result.auc_a)
    assert comparison.p_value == pytest.approx(norm.sf(comparison.effect / se))
    assert comparison.ci_low == pytest.approx(comparison.effect - norm.ppf(0.95) * se)
    assert comparison.mde == pytest.approx((norm.ppf(0.95) + norm.ppf(0.8)) * se)


def test_identical_scores_are_never_called_superior() -> None:
    y, a, _ = _dataset(300, 11, tied=False)
    comparison = compare_paired("auc", y, a, a.copy())
    assert comparison.effect == 0.0
    assert comparison.p_value == 1.0
    assert comparison.required_n is None
