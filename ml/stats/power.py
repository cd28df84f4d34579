"""Minimum detectable effect and required sample size from an observed standard error.

Normal approximation: a one-sided test at alpha has power `power` against a true distance from the null
boundary of (z_{1-alpha} + z_{power}) * se. Standard errors shrink like 1/sqrt(n), so detecting a
distance `target` needs about n * (mde / target)^2 rows with data like these.
"""

from __future__ import annotations

import math

from scipy.stats import norm


def minimum_detectable_effect(se: float, alpha: float, power: float) -> float:
    """Smallest true distance from the null boundary detected with probability `power` at one-sided `alpha`."""
    return float((norm.ppf(1.0 - alpha) + norm.ppf(power)) * se)


def required_sample_size(n: int, se: float, alpha: float, power: float, target: float) -> int | None:
    """Rows needed to detect a distance `target` from the null boundary, scaling the observed se.

    None when it cannot be computed: no target (target <= 0) or no observed variability (se == 0,
    e.g. identical predictions), where scaling an se of zero would claim any effect is detectable.
    """
    if target <= 0.0 or not se > 0.0 or not math.isfinite(se):
        return None
    mde = minimum_detectable_effect(se, alpha, power)
    return max(1, math.ceil(n * (mde / target) ** 2))
