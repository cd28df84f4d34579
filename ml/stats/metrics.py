"""Point values and single-model confidence intervals of the gate's metrics.

The interval is what a first model (with no champion to beat) is judged by: its lower bound must clear
a floor. Intervals are two-sided at level 1 - 2*alpha, so the lower bound is a one-sided alpha bound.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import beta, norm, rankdata

import ml.stats._validation as check
from ml.stats.catalog import LOG_LOSS_EPS
from ml.stats.delong import delong_components


def validated_inputs(
    metric: str, y_true: ArrayLike, named_scores: dict[str, ArrayLike]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Check metric name, labels and every score vector; return them as float arrays."""
    check.check_metric(metric)
    y = check.as_vector(y_true, "y_true")
    scores = [check.as_vector(values, name) for name, values in named_scores.items()]
    check.check_same_length(y_true=y, **dict(zip(named_scores, scores, strict=True)))
    check.check_labels(metric, y)
    for name, values in zip(named_scores, scores, strict=True):
        check.check_scores(metric, values, name)
    if metric == "auc":
        check.check_both_classes(y)
    return y, scores


def row_losses(metric: str, y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-row loss whose mean is the metric (for rmse: the squared error, whose mean is MSE)."""
    if metric == "log_loss":
        # Clip the probability given to the true class, not p: 1 - EPS is not exact in floating point.
        p_true = np.where(y_true == 1, scores, 1.0 - scores)
        return -np.log(np.maximum(p_true, LOG_LOSS_EPS))
    if metric in ("brier", "rmse"):
        return (scores - y_true) ** 2
    if metric == "mae":
        return np.abs(scores - y_true)
    raise ValueError(f"{metric!r} is not a per-row loss")  # programming error, not bad user input


def auc_value(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney form of the AUC (ties count 1/2); needs one row of each class, unlike the variance."""
    positive = y_true == 1
    m, n = int(positive.sum()), int((~positive).sum())
    return float((rankdata(scores)[positive].sum() - m * (m + 1) / 2.0) / (m * n))


def metric_value(metric: str, y_true: ArrayLike, scores: ArrayLike, threshold: float = 0.5) -> float:
    """The metric of one model's scores on labelled rows.

    Classification metrics take y_true in {0, 1} and scores = predicted probability of class 1; accuracy
    predicts class 1 when score >= threshold. mae and rmse take real-valued predictions.
    """
    check.check_threshold(threshold)
    y, (s,) = validated_inputs(metric, y_true, {"scores": scores})
    if metric == "auc":
        return auc_value(y, s)
    if metric == "accuracy":
        return float(np.mean((s >= threshold) == (y == 1)))
    mean_loss = float(np.mean(row_losses(metric, y, s)))
    return math.sqrt(mean_loss) if metric == "rmse" else mean_loss


def _auc_interval(y: np.ndarray, s: np.ndarray, z: float) -> tuple[float, float, float]:
    check.check_both_classes(y, minimum=2)
    aucs, cov = delong_components(y, s[np.newaxis, :])
    value, se = float(aucs[0]), math.sqrt(max(float(cov[0, 0]), 0.0))
    return value, max(value - z * se, 0.0), min(value + z * se, 1.0)


def _accuracy_interval(y: np.ndarray, s: np.ndarray, alpha: float, threshold: float) -> tuple[float, float, float]:
    """Exact Clopper-Pearson interval (beta quantiles; what binomtest(...).proportion_ci computes, faster)."""
    n = y.size
    correct = int(np.sum((s >= threshold) == (y == 1)))
    low = float(beta.ppf(alpha, correct, n - correct + 1)) if correct > 0 else 0.0
    high = float(beta.ppf(1.0 - alpha, correct + 1, n - correct)) if correct < n else 1.0
    return correct / n, low, high


def _loss_interval(metric: str, y: np.ndarray, s: np.ndarray, z: float) -> tuple[float, float, float]:
    check.check_min_rows(y.size, 2, metric)
    losses = row_losses(metric, y, s)
    mean = float(losses.mean())
    half_width = z * float(losses.std(ddof=1)) / math.sqrt(losses.size)
    low, high = max(mean - half_width, 0.0), mean + half_width
    if metric == "rmse":
        # The interval is built for MSE, where the CLT applies to a mean, then mapped through sqrt
        # (monotone), which keeps it non-negative and avoids the delta method's blow-up near 0.
        return math.sqrt(mean), math.sqrt(low), math.sqrt(high)
    if metric == "brier":
        high = min(high, 1.0)
    return mean, low, high


def metric_confidence_interval(
    metric: str,
    y_true: ArrayLike,
    scores: ArrayLike,
    *,
    alpha: float = 0.05,
    threshold: float = 0.5,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(value, low, high): the metric of one model with a two-sided (1 - 2*alpha) confidence interval.

    AUC: normal interval with DeLong's variance, clipped to [0, 1]. accuracy: exact Clopper-Pearson.
    log_loss, brier, mae: normal (CLT) interval for the mean per-row loss. rmse: normal interval for MSE,
    square-rooted. All intervals are analytic, so `seed` does not change them; it is accepted so call
    sites stay stable if a resampling interval is ever added.
    """
    check.check_probability_setting("alpha", alpha, upper=0.5)
    check.check_threshold(threshold)
    y, (s,) = validated_inputs(metric, y_true, {"scores": scores})
    z = float(norm.ppf(1.0 - alpha))
    if metric == "auc":
        return _auc_interval(y, s, z)
    if metric == "accuracy":
        return _accuracy_interval(y, s, alpha, threshold)
    return _loss_interval(metric, y, s, z)
