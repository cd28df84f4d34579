"""Input checks shared by the public entry points.

Every check raises `GateInputError` with a message naming the argument, what was wrong and how to fix
it, because a gate that silently coerces bad data gives verdicts nobody can trust.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from numpy.typing import ArrayLike

from ml.stats.catalog import METRICS, PROBABILITY_METRICS, REGRESSION_METRICS
from ml.stats.errors import GateInputError

RULES = ("superiority", "non_inferiority")


def check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise GateInputError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")


def as_vector(values: ArrayLike, name: str) -> np.ndarray:
    """Return `values` as a 1-D float array of finite numbers, or raise."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise GateInputError(f"{name} must be numeric; could not convert it to floats ({exc})") from exc
    if array.ndim != 1:
        raise GateInputError(
            f"{name} must be 1-D (one value per holdout row) but has shape {array.shape}; "
            "pass a single column, e.g. values.ravel()"
        )
    if array.size == 0:
        raise GateInputError(f"{name} is empty; the gate needs at least one labelled holdout row")
    bad = ~np.isfinite(array)
    if bad.any():
        raise GateInputError(
            f"{name} contains {int(bad.sum())} NaN or infinite value(s) (first at row {int(np.argmax(bad))}); "
            "drop or repair those rows for every model before comparing"
        )
    return array


def check_same_length(**arrays: np.ndarray) -> None:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise GateInputError(
            f"inputs must have one value per holdout row but their lengths differ ({listed}); "
            "score both models on the same rows in the same order"
        )


def check_labels(metric: str, y_true: np.ndarray) -> None:
    if metric in REGRESSION_METRICS:
        return
    unexpected = np.setdiff1d(np.unique(y_true), [0.0, 1.0])
    if unexpected.size:
        shown = ", ".join(f"{v:g}" for v in unexpected[:5])
        raise GateInputError(
            f"y_true must hold only 0 and 1 for the classification metric {metric!r}; found {shown}; "
            "encode the positive class as 1 and every other class as 0"
        )


def check_scores(metric: str, scores: np.ndarray, name: str) -> None:
    if metric not in PROBABILITY_METRICS:
        return
    if scores.min() < 0.0 or scores.max() > 1.0:
        raise GateInputError(
            f"{name} must be probabilities in [0, 1] for {metric!r} but range over "
            f"[{scores.min():g}, {scores.max():g}]; pass predict_proba(...)[:, 1], not raw margins or logits"
        )


def check_both_classes(y_true: np.ndarray, minimum: int = 1) -> None:
    positives = int((y_true == 1).sum())
    negatives = y_true.size - positives
    if positives == 0 or negatives == 0:
        raise GateInputError(
            "AUC is undefined when the holdout has only one class; collect more labelled rows or use another metric"
        )
    if min(positives, negatives) < minimum:
        raise GateInputError(
            f"DeLong's variance needs at least {minimum} rows of each class but the holdout has "
            f"{positives} positive and {negatives} negative rows; collect more labelled rows"
        )


def check_min_rows(n: int, minimum: int, metric: str) -> None:
    if n < minimum:
        raise GateInputError(
            f"comparing {metric!r} needs at least {minimum} holdout rows to estimate a standard error but got {n}; "
            "collect more labelled rows"
        )


def check_probability_setting(name: str, value: float, upper: float = 1.0) -> None:
    if not isinstance(value, Real) or not (0.0 < float(value) < upper):
        hint = " (the reported two-sided interval has level 1 - 2*alpha)" if upper < 1.0 else ""
        raise GateInputError(f"{name} must be a number strictly between 0 and {upper:g}{hint}; got {value!r}")


def check_non_negative(name: str, value: float) -> None:
    if not isinstance(value, Real) or not math.isfinite(value) or value < 0:
        raise GateInputError(f"{name} must be a finite number >= 0 (in the metric's own units); got {value!r}")


def check_rule(rule: str, margin: float) -> None:
    if rule not in RULES:
        raise GateInputError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    if rule == "superiority" and margin != 0:
        raise GateInputError(
            f"margin={margin!r} only applies to rule='non_inferiority'; set margin=0 for superiority or switch the rule"
        )


def check_threshold(threshold: float) -> None:
    if not isinstance(threshold, Real) or not math.isfinite(threshold):
        raise GateInputError(f"threshold must be a finite number; got {threshold!r}")


def check_resampling(n_resamples: int, alpha: float, seed: int) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, Integral) or n_resamples < 1:
        raise GateInputError(f"n_resamples must be a positive integer; got {n_resamples!r}")
    smallest_p = 1.0 / (1.0 + n_resamples)
    if not smallest_p < alpha:
        needed = math.floor(1.0 / alpha)
        raise GateInputError(
            f"n_resamples={n_resamples} can never give p < alpha={alpha:g} (smallest p is {smallest_p:.3g}); "
            f"use at least {needed} resamples (1000 or more recommended)"
        )
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise GateInputError(f"seed must be a non-negative integer so results are reproducible; got {seed!r}")
