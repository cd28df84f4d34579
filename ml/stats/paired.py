"""Paired sign-flip permutation test for per-row losses (log_loss, brier, mae, rmse).

Under H0 "the two models are exchangeable", swapping the champion's and challenger's loss on any row
leaves the joint distribution unchanged, so flipping each row with probability 1/2 gives an exact test
(p = (1 + #{resampled >= observed}) / (1 + B), valid for any B). When the models only have equal mean
loss without being exchangeable, the test is still asymptotically valid (the sign-flip distribution of a
mean has the right variance under a zero mean).

Flipping a set F of rows changes the mean loss difference by -2/n * sum_F(d), so the test only needs
sum_F(d) and |F| for each resample: one 0/1 matrix times the loss columns. Flips are drawn as random
bytes and unpacked to bits in chunks, which keeps n=100,000 x 2000 resamples to a few tenths of a second
and memory to a few tens of MB.

The same sums give each resample's "flipped-half" estimate e_r = f(sum_F(loss) / |F|): for a mean loss,
"resampled >= observed" is exactly "e_r <= 0", and shifting the data by delta (the test of H0: effect
<= delta) is exactly "e_r <= delta". So one set of resamples gives
- the superiority p-value, an exact permutation test;
- the non-inferiority p-value (H0: effect <= -margin), the sign-flip test of the shifted differences
  (exact when the differences are symmetric about -margin, asymptotically valid otherwise);
- the interval, by inverting those tests (its bounds are order statistics of e_r), so
  "ci_low > -margin" and "p < alpha" always agree.
rmse uses f(mse_champion, mse_challenger) = sqrt(mse_champion) - sqrt(mse_challenger); its superiority test
is still exact because sqrt is monotone, while its non-inferiority test and interval are the
half-sample percentile analogue (asymptotically valid, not exact).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ml.stats.metrics import row_losses
from ml.stats.outcome import TestOutcome

# Rows of the flip matrix unpacked at once: 32 x 100,000 float64 is 25 MB.
_CHUNK = 32

Statistic = Callable[[np.ndarray], np.ndarray]


def flipped_sums(columns: np.ndarray, n_resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """For each resample, sums of `columns` (n x k) over a random half of the rows, and the half's size."""
    n = columns.shape[0]
    with_count = np.hstack([columns, np.ones((n, 1))])
    rng = np.random.default_rng(seed)
    sums = np.empty((n_resamples, with_count.shape[1]))
    flips = np.empty((_CHUNK, n))
    for start in range(0, n_resamples, _CHUNK):
        rows = min(_CHUNK, n_resamples - start)
        packed = rng.integers(0, 256, size=(rows, (n + 7) // 8), dtype=np.uint8)
        np.copyto(flips[:rows], np.unpackbits(packed, axis=1, count=n))
        sums[start : start + rows] = flips[:rows] @ with_count
    return sums[:, :-1], sums[:, -1]


def largest_rejecting_count(alpha: float, n_resamples: int) -> int:
    """Largest count c with (1 + c) / (1 + B) < alpha, computed exactly as the p-value is compared."""
    counts = np.arange(n_resamples + 1)
    return int(np.sum((1.0 + counts) / (1.0 + n_resamples) < alpha)) - 1


def resampling_test(
    columns: np.ndarray,
    statistic: Statistic,
    *,
    null_effect: float,
    alpha: float,
    n_resamples: int,
    seed: int,
) -> tuple[float, float, float, float]:
    """(effect, p_value, ci_low, ci_high) for H0: statistic <= null_effect, from sign-flip resamples.

    `statistic` maps column means (k x ...) to the effect; `columns` is n x k.
    """
    effect = float(statistic(columns.mean(axis=0)))
    sums, sizes = flipped_sums(columns, n_resamples, seed)
    empty = sizes == 0  # the identity resample: it ties the observed value in both directions
    with np.errstate(invalid="ignore", divide="ignore"):
        estimates = statistic((sums / sizes[:, np.newaxis]).T)
    for_lower = np.where(empty, -np.inf, estimates)
    for_upper = np.where(empty, np.inf, estimates)
    p_value = (1.0 + np.sum(for_lower <= null_effect)) / (1.0 + n_resamples)
    m = largest_rejecting_count(alpha, n_resamples)
    ci_low = float(np.sort(for_lower)[m])
    ci_high = float(np.sort(for_upper)[n_resamples - 1 - m])
    return effect, float(p_value), ci_low, ci_high


def _mean_difference(means: np.ndarray) -> np.ndarray:
    return means[0]


def _rmse_difference(means: np.ndarray) -> np.ndarray:
    return np.sqrt(means[0]) - np.sqrt(means[1])


def _rmse_difference_se(champion_sq: np.ndarray, challenger_sq: np.ndarray) -> float:
    """Delta-method standard error of sqrt(mean a) - sqrt(mean b); a model with zero error adds no variance."""
    influence = np.zeros_like(champion_sq)
    for sign, squared in ((1.0, champion_sq), (-1.0, challenger_sq)):
        mean = squared.mean()
        if mean > 0:
            influence += sign * squared / (2.0 * math.sqrt(mean))
    return float(influence.std(ddof=1)) / math.sqrt(influence.size)


def loss_test(
    metric: str,
    y_true: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    *,
    null_effect: float,
    alpha: float,
    n_resamples: int,
    seed: int,
) -> TestOutcome:
    """Paired permutation comparison of a loss metric on validated inputs; effect = champion - challenger."""
    champion_loss = row_losses(metric, y_true, champion)
    challenger_loss = row_losses(metric, y_true, challenger)
    if metric == "rmse":
        columns, statistic = np.column_stack([champion_loss, challenger_loss]), _rmse_difference
        values = (math.sqrt(champion_loss.mean()), math.sqrt(challenger_loss.mean()))
        se = _rmse_difference_se(champion_loss, challenger_loss)
    else:
        # One column of differences rather than two of losses: sums of differences lose no precision.
        difference = champion_loss - challenger_loss
        columns, statistic = difference[:, np.newaxis], _mean_difference
        values = (float(champion_loss.mean()), float(challenger_loss.mean()))
        se = float(difference.std(ddof=1)) / math.sqrt(difference.size)
    effect, p_value, ci_low, ci_high = resampling_test(
        columns, statistic, null_effect=null_effect, alpha=alpha, n_resamples=n_resamples, seed=seed
    )
    return TestOutcome(
        test="paired_permutation",
        champion_value=float(values[0]),
        challenger_value=float(values[1]),
        effect=effect,
        se=se,
        p_value=p_value,
        ci_low=ci_low,
        ci_high=ci_high,
    )
