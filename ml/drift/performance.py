"""The performance check: is the champion's metric on a labelled batch significantly below its holdout value?"""

from __future__ import annotations

import logging

import numpy as np
from scipy.stats import norm

from ml.contract import Contract

logger = logging.getLogger(__name__)


def performance_check(contract: Contract, labels: np.ndarray, scores: np.ndarray, champion_tags: dict) -> dict:
    """Is the champion's metric on this batch significantly below its holdout value minus ``min_drop``?"""
    from ml.stats import GateInputError, metric_confidence_interval

    spec = contract.drift.performance
    expected = champion_tags.get("ct.holdout_metric")
    if spec is None or expected is None:
        return {"checked": False, "why": "no performance policy or no recorded holdout metric"}
    try:
        value, low, high = metric_confidence_interval(
            spec.metric, labels, scores, alpha=spec.alpha, threshold=contract.gate.threshold
        )
    except GateInputError as error:
        return {"checked": False, "why": str(error)}
    z = norm.ppf(1 - spec.alpha)
    se_batch = (high - low) / (2 * z)
    se_expected = float(champion_tags.get("ct.holdout_metric_se", 0.0))
    se = float(np.hypot(se_batch, se_expected)) or 1e-12
    bound = float(expected) - spec.min_drop
    p_value = float(norm.cdf((value - bound) / se))
    return {
        "checked": True,
        "metric": spec.metric,
        "value": float(value),
        "expected": float(expected),
        "min_drop": spec.min_drop,
        "p_value": p_value,
        "dropped": p_value < spec.alpha,
    }
