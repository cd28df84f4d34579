"""The common shape of every paired test's result, and the normal-theory test they can share."""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import norm


@dataclass(frozen=True)
class TestOutcome:
    """What one paired test found, before power analysis. `effect` is positive when the challenger is better."""

    test: str
    champion_value: float
    challenger_value: float
    effect: float
    se: float
    p_value: float
    ci_low: float
    ci_high: float


def normal_test(effect: float, se: float, null_effect: float, alpha: float) -> tuple[float, float, float]:
    """One-sided p-value of H0: effect <= null_effect and the matching two-sided (1 - 2*alpha) interval.

    With se == 0 the data leave no doubt about the sample effect, so the p-value is 0 or 1: identical
    models (effect 0) are then never called superior.
    """
    if se <= 0.0:
        return (0.0 if effect > null_effect else 1.0), effect, effect
    z_crit = float(norm.ppf(1.0 - alpha))
    p_value = float(norm.sf((effect - null_effect) / se))
    return p_value, effect - z_crit * se, effect + z_crit * se
