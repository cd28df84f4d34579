"""Paired champion/challenger comparison of one metric: the entry point of the promotion gate's statistics.

Each metric gets the paired test that suits it (see `compare_paired`); every result is expressed the same
way, with the effect oriented so that positive means the challenger is better.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

import ml.stats._validation as check
from ml.stats.catalog import LOSS_METRICS
from ml.stats.delong import delong_test
from ml.stats.mcnemar import accuracy_test
from ml.stats.metrics import validated_inputs
from ml.stats.outcome import TestOutcome
from ml.stats.paired import loss_test
from ml.stats.power import minimum_detectable_effect, required_sample_size

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricComparison:
    """One metric's paired comparison of a challenger against the champion on the same holdout rows.

    effect is positive when the challenger is better (for losses: champion loss - challenger loss).
    [ci_low, ci_high] is a two-sided (1 - 2*alpha) interval for the effect, so it agrees with the
    one-sided test at alpha. p_value is one-sided and uncorrected (see `holm` for several metrics).
    mde is the smallest true distance from the null boundary (the effect for superiority, effect + margin
    for non-inferiority) detected with probability `power`; required_n is the number of rows needed to
    detect min_effect (+ margin), or None when not computable.
    """

    metric: str
    test: str
    rule: str
    n: int
    champion_value: float
    challenger_value: float
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha: float
    min_effect: float
    margin: float
    power: float
    mde: float
    required_n: int | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict: Python floats, with NaN and infinities as None."""
        return {key: _json_safe(value) for key, value in asdict(self).items()}


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class _Settings:
    """compare_paired's keyword arguments, validated together."""

    rule: str
    alpha: float
    min_effect: float
    margin: float
    power: float
    threshold: float
    n_resamples: int
    seed: int

    def validate(self, metric: str) -> None:
        check.check_probability_setting("alpha", self.alpha, upper=0.5)
        check.check_probability_setting("power", self.power)
        check.check_non_negative("min_effect", self.min_effect)
        check.check_non_negative("margin", self.margin)
        check.check_rule(self.rule, self.margin)
        check.check_threshold(self.threshold)
        if metric in LOSS_METRICS:
            check.check_resampling(self.n_resamples, self.alpha, self.seed)

    @property
    def null_effect(self) -> float:
        """The boundary of H0: effect <= null_effect (0 for superiority, -margin for non-inferiority)."""
        return -float(self.margin)


def _run_test(
    metric: str, y: np.ndarray, champion: np.ndarray, challenger: np.ndarray, settings: _Settings
) -> TestOutcome:
    null_effect, alpha = settings.null_effect, settings.alpha
    if metric == "auc":
        check.check_both_classes(y, minimum=2)
        return delong_test(y, champion, challenger, null_effect=null_effect, alpha=alpha)
    if metric == "accuracy":
        return accuracy_test(
            y,
            champion,
            challenger,
            threshold=settings.threshold,
            null_effect=null_effect,
            alpha=alpha,
            rule=settings.rule,
        )
    check.check_min_rows(y.size, 2, metric)
    return loss_test(
        metric,
        y,
        champion,
        challenger,
        null_effect=null_effect,
        alpha=alpha,
        n_resamples=settings.n_resamples,
        seed=settings.seed,
    )


def compare_paired(
    metric: str,
    y_true: ArrayLike,
    champion_scores: ArrayLike,
    challenger_scores: ArrayLike,
    *,
    rule: str = "superiority",
    alpha: float = 0.05,
    min_effect: float = 0.0,
    margin: float = 0.0,
    power: float = 0.8,
    threshold: float = 0.5,
    n_resamples: int = 2000,
    seed: int = 0,
) -> MetricComparison:
    """Compare a challenger with the champion on the same labelled rows, for one metric.

    rule="superiority" tests H0: effect <= 0 against effect > 0 at one-sided alpha, so two equally good
    models are promoted at rate <= alpha. rule="non_inferiority" tests H0: effect <= -margin.
    Tests: auc - DeLong's z-test; accuracy - exact McNemar (superiority) or Tango's score test
    (non-inferiority); log_loss, brier, mae, rmse - paired sign-flip permutation test on per-row losses
    with `n_resamples` resamples drawn from `seed`. min_effect (in metric units) is the smallest
    improvement worth detecting: it sets required_n; a caller treats mde > min_effect (+ margin) as
    inconclusive. Raises GateInputError (a ValueError) for bad data or settings.
    """
    settings = _Settings(rule, alpha, min_effect, margin, power, threshold, n_resamples, seed)
    check.check_metric(metric)
    settings.validate(metric)
    y, (champion, challenger) = validated_inputs(
        metric, y_true, {"champion_scores": champion_scores, "challenger_scores": challenger_scores}
    )
    outcome = _run_test(metric, y, champion, challenger, settings)
    mde = minimum_detectable_effect(outcome.se, alpha, power)
    required_n = required_sample_size(y.size, outcome.se, alpha, power, float(min_effect) + float(margin))
    logger.debug(
        "compared %s (%s, %s) on %d rows: effect=%.6g p=%.4g mde=%.4g",
        *(metric, outcome.test, rule, y.size, outcome.effect, outcome.p_value, mde),
    )
    return MetricComparison(
        metric=metric,
        test=outcome.test,
        rule=rule,
        n=int(y.size),
        champion_value=outcome.champion_value,
        challenger_value=outcome.challenger_value,
        effect=outcome.effect,
        ci_low=outcome.ci_low,
        ci_high=outcome.ci_high,
        p_value=outcome.p_value,
        alpha=float(alpha),
        min_effect=float(min_effect),
        margin=float(margin),
        power=float(power),
        mde=mde,
        required_n=required_n,
    )
