"""Minimum detectable effect and required sample size."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from ml.stats import compare_paired, minimum_detectable_effect, required_sample_size
from tests.ml.stats.stats_scenarios import classification


@pytest.mark.parametrize(
    ("se", "alpha", "power", "expected"),
    [(0.01, 0.05, 0.8, 0.024865), (0.01, 0.025, 0.8, 0.028016), (0.002, 0.05, 0.9, 0.005853), (0.0, 0.05, 0.8, 0.0)],
)
def test_mde_is_z_alpha_plus_z_power_standard_errors(se: float, alpha: float, power: float, expected: float) -> None:
    assert minimum_detectable_effect(se, alpha, power) == pytest.approx(expected, abs=1e-6)


def test_required_n_scales_with_the_squared_ratio_of_mde_to_target() -> None:
    mde = minimum_detectable_effect(0.01, 0.05, 0.8)
    assert required_sample_size(1000, 0.01, 0.05, 0.8, mde) in (1000, 1001)
    assert required_sample_size(1000, 0.01, 0.05, 0.8, mde / 2) in (4000, 4001)
    assert required_sample_size(1000, 0.01, 0.05, 0.8, 0.0) is None
    assert required_sample_size(1000, 0.0, 0.05, 0.8, 0.01) is None


def _accuracy_rows(n: int, discordance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equal accuracy (b = c) with a given share of discordant rows."""
    discordant = int(n * discordance) // 2
    y = np.ones(n)
    champion, challenger = np.full(n, 0.9), np.full(n, 0.9)
    champion[:discordant] = 0.1
    challenger[discordant : 2 * discordant] = 0.1
    return y, champion, challenger


@pytest.mark.parametrize("discordance", [0.05, 0.10, 0.20])
def test_mcnemar_required_n_uses_the_discordance_rate(discordance: float) -> None:
    # One-sided analogue of FIELD_NOTES' "+1 point needs ~3.9k / 7.8k / 15.7k rows at 5 / 10 / 20 %
    # disagreement" (those use two-sided z = 1.96): n = (z_0.95 + z_0.8)^2 * discordance / 0.01^2.
    result = compare_paired("accuracy", *_accuracy_rows(20_000, discordance), min_effect=0.01)
    expected = (norm.ppf(0.95) + norm.ppf(0.8)) ** 2 * discordance / 0.01**2
    assert result.required_n == pytest.approx(expected, rel=1e-3)
    assert result.mde == pytest.approx((norm.ppf(0.95) + norm.ppf(0.8)) * math.sqrt(discordance / 20_000))


def test_required_n_targets_min_effect_plus_margin_for_non_inferiority() -> None:
    y, champion, challenger = classification(4000, np.random.default_rng(3), (1.0, 1.0))
    superiority = compare_paired("brier", y, champion, challenger, min_effect=0.004, n_resamples=199)
    non_inferiority = compare_paired(
        "brier", y, champion, challenger, rule="non_inferiority", margin=0.002, min_effect=0.002, n_resamples=199
    )
    assert superiority.mde == pytest.approx(non_inferiority.mde)
    assert superiority.required_n == non_inferiority.required_n
    at_mde = compare_paired("brier", y, champion, challenger, min_effect=superiority.mde, n_resamples=199)
    assert at_mde.required_n in (4000, 4001)
