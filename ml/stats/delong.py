"""DeLong's test for two correlated ROC AUCs, with the fast midrank algorithm of Sun & Xu (2014).

References: DeLong, DeLong & Clarke-Pearson (1988), Biometrics 44:837-845; Sun & Xu (2014), IEEE Signal
Processing Letters 21(11):1389-1393.

Written here because no maintained Python implementation exists: scipy, statsmodels and scikit-learn have
no DeLong test, and the snippets that circulate are unpackaged copies of one gist. The O(n log n) midrank
form matters: a paired bootstrap of AUC takes ~17 s at n=5000, this takes milliseconds at n=100,000.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

import ml.stats._validation as check
from ml.stats.outcome import TestOutcome, normal_test


@dataclass(frozen=True)
class DeLongResult:
    """AUCs of two models scored on the same rows, with DeLong's (co)variance estimates."""

    auc_a: float
    auc_b: float
    var_a: float
    var_b: float
    cov_ab: float

    @property
    def var_diff(self) -> float:
        """Variance of auc_b - auc_a (clipped at 0: rounding can make a tiny negative)."""
        return max(self.var_a + self.var_b - 2.0 * self.cov_ab, 0.0)


def delong_components(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUC of each row of `scores` (k x n) and their k x k DeLong covariance matrix.

    Inputs are assumed validated: y_true in {0, 1} with at least two rows of each class.
    """
    positive = y_true == 1
    x = scores[:, positive]
    y = scores[:, ~positive]
    m, n = x.shape[1], y.shape[1]
    # Midranks: ties get the average rank, which is what gives a tied pair a score of 1/2.
    tx = rankdata(x, axis=1)
    ty = rankdata(y, axis=1)
    tz = rankdata(np.hstack([x, y]), axis=1)
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    # Structural components: v10[i] = share of negatives a positive beats, v01[j] = share of positives
    # that beat a negative (ties counted 1/2).
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    covariance = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, covariance


def delong_paired(y_true: ArrayLike, scores_a: ArrayLike, scores_b: ArrayLike) -> DeLongResult:
    """AUCs of two models on the same labelled rows and DeLong's variances and covariance.

    Runs in O(n log n). Raises GateInputError for mismatched, empty, non-finite or non-binary input, and
    when either class has fewer than two rows (the variance needs two of each).
    """
    y = check.as_vector(y_true, "y_true")
    a = check.as_vector(scores_a, "scores_a")
    b = check.as_vector(scores_b, "scores_b")
    check.check_same_length(y_true=y, scores_a=a, scores_b=b)
    check.check_labels("auc", y)
    check.check_both_classes(y, minimum=2)
    aucs, cov = delong_components(y, np.vstack([a, b]))
    return DeLongResult(
        auc_a=float(aucs[0]),
        auc_b=float(aucs[1]),
        var_a=float(cov[0, 0]),
        var_b=float(cov[1, 1]),
        cov_ab=float(cov[0, 1]),
    )


def delong_test(
    y_true: np.ndarray, champion: np.ndarray, challenger: np.ndarray, *, null_effect: float, alpha: float
) -> TestOutcome:
    """One-sided z-test of H0: AUC_challenger - AUC_champion <= null_effect, on validated inputs."""
    result = delong_paired(y_true, champion, challenger)
    effect = result.auc_b - result.auc_a
    se = float(np.sqrt(result.var_diff))
    p_value, ci_low, ci_high = normal_test(effect, se, null_effect, alpha)
    return TestOutcome(
        test="delong",
        champion_value=result.auc_a,
        challenger_value=result.auc_b,
        effect=effect,
        se=se,
        p_value=p_value,
        ci_low=ci_low,
        ci_high=ci_high,
    )
