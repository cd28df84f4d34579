"""Contract of compare_paired over every metric: orientation, interval/test agreement, serialisation."""

import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ml.stats import METRICS, MetricComparison, compare_paired
from tests.ml.stats.stats_scenarios import simulate

EXPECTED_TEST = {
    ("auc", "superiority"): "delong",
    ("auc", "non_inferiority"): "delong",
    ("accuracy", "superiority"): "mcnemar_exact",
    ("accuracy", "non_inferiority"): "tango_score",
    **{(metric, rule): "paired_permutation" for metric in METRICS[2:] for rule in ("superiority", "non_inferiority")},
}


@pytest.mark.parametrize("metric", METRICS)
def test_a_much_better_challenger_has_a_positive_significant_effect_and_the_swap_is_negative(metric: str) -> None:
    y, weak, strong = simulate(metric, 3000, np.random.default_rng(1), (1.0, 0.3))
    better = compare_paired(metric, y, weak, strong, n_resamples=999)
    worse = compare_paired(metric, y, strong, weak, n_resamples=999)
    assert better.effect > 0 and better.p_value < 0.01 and better.ci_low > 0
    assert worse.effect == pytest.approx(-better.effect)
    assert worse.p_value > 0.99 and worse.ci_high < 0


@pytest.mark.parametrize(("metric", "rule"), sorted(EXPECTED_TEST))
def test_each_metric_and_rule_uses_its_documented_test(metric: str, rule: str) -> None:
    y, champion, challenger = simulate(metric, 500, np.random.default_rng(2), (1.0, 0.9))
    margin = 0.01 if rule == "non_inferiority" else 0.0
    result = compare_paired(metric, y, champion, challenger, rule=rule, margin=margin, n_resamples=199)
    assert (result.metric, result.rule, result.test, result.n, result.margin) == (
        metric,
        rule,
        EXPECTED_TEST[metric, rule],
        500,
        margin,
    )


def test_to_dict_is_json_safe() -> None:
    y, champion, challenger = simulate("rmse", 200, np.random.default_rng(3), (1.0, 0.9))
    result = compare_paired("rmse", y, champion, challenger, n_resamples=199, min_effect=0.05)
    as_dict = result.to_dict()
    assert json.loads(json.dumps(as_dict, allow_nan=False)) == as_dict
    assert all(type(value) in (str, int, float, type(None)) for value in as_dict.values())
    assert set(as_dict) == set(MetricComparison.__dataclass_fields__)
    odd = MetricComparison(**{**as_dict, "ci_low": -math.inf, "mde": math.nan, "required_n": None})
    assert odd.to_dict()["ci_low"] is None and odd.to_dict()["mde"] is None


@settings(derandomize=True, database=None, max_examples=150, deadline=None)
@given(
    metric=st.sampled_from(METRICS),
    n=st.integers(20, 400),
    seed=st.integers(0, 10_000),
    challenger_sigma=st.floats(0.6, 1.4),
    margin=st.sampled_from([0.0, 0.005, 0.02, 0.1]),
    alpha=st.sampled_from([0.01, 0.05, 0.1]),
)
def test_interval_lower_bound_clears_the_null_exactly_when_p_is_below_alpha(
    metric: str, n: int, seed: int, challenger_sigma: float, margin: float, alpha: float
) -> None:
    y, champion, challenger = simulate(metric, n, np.random.default_rng(seed), (1.0, challenger_sigma))
    if metric == "auc":
        assume(min(y.sum(), n - y.sum()) >= 2)
    rule = "non_inferiority" if margin > 0 else "superiority"
    result = compare_paired(
        metric, y, champion, challenger, rule=rule, margin=margin, alpha=alpha, n_resamples=299, seed=seed
    )
    assert (result.ci_low > -margin) == (result.p_value < alpha)
    assert result.ci_low <= result.effect <= result.ci_high
    assert 0.0 < result.p_value <= 1.0 or result.test in ("delong", "tango_score", "mcnemar_exact")
