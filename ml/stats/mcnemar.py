"""Paired tests of a difference in accuracy: exact McNemar (superiority) and Tango's score test (margins).

Only discordant rows (one model right, the other wrong) carry information about which model is more
accurate. With b = rows only the champion gets right and c = rows only the challenger gets right, the
accuracy difference is (c - b) / n.

- Superiority uses the exact one-sided McNemar test: given b + c discordant rows, c ~ Binomial(b + c, 1/2)
  under H0. Its interval is the matching conditional Clopper-Pearson interval for c / (b + c), mapped to
  the accuracy scale with the observed discordance rate, so "lower bound > 0" and "p < alpha" agree.
- Non-inferiority (H0: difference <= -margin) cannot be conditioned on b + c, so it uses Tango's (1998)
  score test for a paired difference of proportions (Statistics in Medicine 17:891-908), with the
  restricted maximum-likelihood variance; its interval is the inverted score test.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.stats import beta, binom, norm

from ml.stats.outcome import TestOutcome

# Interval search stays this far inside (-1, 1), where the score statistic's variance vanishes.
_EDGE = 1e-12


def discordant_counts(champion_correct: np.ndarray, challenger_correct: np.ndarray) -> tuple[int, int]:
    """(b, c): rows only the champion gets right, rows only the challenger gets right."""
    b = int(np.sum(champion_correct & ~challenger_correct))
    c = int(np.sum(~champion_correct & challenger_correct))
    return b, c


def discordance_se(b: int, c: int, n: int) -> float:
    """Standard error of the accuracy difference under H0 (equal accuracy): sqrt(discordance rate / n)."""
    return math.sqrt((b + c) / n) / math.sqrt(n)


def mcnemar_exact_test(b: int, c: int, n: int, *, alpha: float) -> tuple[float, float, float]:
    """One-sided exact McNemar p-value for H1: challenger more accurate, and the matching interval."""
    discordant = b + c
    if discordant == 0:
        return 1.0, 0.0, 0.0
    p_value = float(binom.sf(c - 1, discordant, 0.5))
    share_low = float(beta.ppf(alpha, c, discordant - c + 1)) if c > 0 else 0.0
    share_high = float(beta.ppf(1.0 - alpha, c + 1, discordant - c)) if c < discordant else 1.0
    rate = discordant / n
    return p_value, rate * (2.0 * share_low - 1.0), rate * (2.0 * share_high - 1.0)


def tango_z(b: int, c: int, n: int, theta0: float) -> float:
    """Tango's score statistic for H0: (c - b) / n = theta0, positive when the data favour a larger difference."""
    # Restricted MLE of P(champion-only correct) given the difference theta0: root of A p^2 + B p + C = 0.
    qa = 2.0 * n
    qb = -(b + c) + (2.0 * n - c + b) * theta0
    qc = -b * theta0 * (1.0 - theta0)
    p_b = (-qb + math.sqrt(max(qb * qb - 4.0 * qa * qc, 0.0))) / (2.0 * qa)
    variance = n * (2.0 * p_b + theta0 * (1.0 - theta0))
    numerator = c - b - n * theta0
    if variance <= 0.0:
        return math.copysign(math.inf, numerator) if numerator else 0.0
    return numerator / math.sqrt(variance)


def _score_bound(b: int, c: int, n: int, target: float, lower: bool) -> float:
    """Where Tango's statistic crosses `target`, searching below (lower) or above the point estimate."""
    estimate = (c - b) / n
    lo, hi = (-1.0 + _EDGE, estimate) if lower else (estimate, 1.0 - _EDGE)

    def f(theta: float) -> float:
        return tango_z(b, c, n, theta) - target

    if f(lo) * f(hi) > 0:
        return lo if lower else hi
    return float(brentq(f, lo, hi, xtol=1e-12))


def tango_score_test(b: int, c: int, n: int, *, null_effect: float, alpha: float) -> tuple[float, float, float]:
    """One-sided score p-value of H0: accuracy difference <= null_effect and the inverted score interval."""
    p_value = float(norm.sf(tango_z(b, c, n, null_effect)))
    z_crit = float(norm.ppf(1.0 - alpha))
    return p_value, _score_bound(b, c, n, z_crit, lower=True), _score_bound(b, c, n, -z_crit, lower=False)


def accuracy_test(
    y_true: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    *,
    threshold: float,
    null_effect: float,
    alpha: float,
    rule: str,
) -> TestOutcome:
    """Paired accuracy comparison on validated inputs (exact McNemar, or Tango's score test with a margin)."""
    truth = y_true == 1
    champion_correct = (champion >= threshold) == truth
    challenger_correct = (challenger >= threshold) == truth
    n = truth.size
    b, c = discordant_counts(champion_correct, challenger_correct)
    if rule == "superiority":
        test, (p_value, ci_low, ci_high) = "mcnemar_exact", mcnemar_exact_test(b, c, n, alpha=alpha)
    else:
        test = "tango_score"
        p_value, ci_low, ci_high = tango_score_test(b, c, n, null_effect=null_effect, alpha=alpha)
    return TestOutcome(
        test=test,
        champion_value=float(champion_correct.mean()),
        challenger_value=float(challenger_correct.mean()),
        effect=(c - b) / n,
        se=discordance_se(b, c, n),
        p_value=p_value,
        ci_low=ci_low,
        ci_high=ci_high,
    )
