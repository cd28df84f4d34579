"""Multiplicity correction for gates that test several metrics at once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ml.stats.errors import GateInputError


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order.

    Rejecting every hypothesis whose adjusted p-value is below alpha controls the family-wise error rate
    at alpha under any dependence between the tests. Adjusted values are monotone in the raw ones and
    capped at 1. An empty input gives an empty list.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise GateInputError(f"p_values must be a flat sequence of numbers; got shape {p.shape}")
    if p.size == 0:
        return []
    if not np.all(np.isfinite(p)) or p.min() < 0.0 or p.max() > 1.0:
        raise GateInputError(
            f"p_values must be numbers in [0, 1]; got {p.tolist()}; check that every test produced a p-value"
        )
    m = p.size
    order = np.argsort(p, kind="stable")
    # The i-th smallest p (0-based) is multiplied by the number of hypotheses still in play, m - i;
    # the running maximum keeps the step-down procedure's adjusted values monotone.
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted.tolist()
