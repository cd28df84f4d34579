"""The promotion gate on simulated holdouts: verdicts, their error rate, and the decision record.

Scores come from a latent-signal model: each row's score is sigmoid(strength * y + noise), so two models
with the same strength and independent noise have the same true AUC, and a larger strength is a better model.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ml.contract import GatePolicy
from ml.gate.decision import GateDecision, evaluate_gate
from ml.stats import metric_confidence_interval

# The weather contract's gate.
POLICY = GatePolicy(metric="auc", rule="superiority", alpha=0.05, min_effect=0.02, power=0.8, floor=0.70)


def _labels(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.permutation(np.arange(n) % 2)  # balanced, both classes always present


def _scores(rng: np.random.Generator, y: np.ndarray, strength: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(strength * y + rng.normal(size=y.size))))


def _holdout(seed: int, n: int, champion: float | None, challenger: float):
    rng = np.random.default_rng(seed)
    y = _labels(rng, n)
    champion_scores = None if champion is None else _scores(rng, y, champion)
    return y, _scores(rng, y, challenger), champion_scores


# --- first model --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("strength", "expected"), [(2.5, "promote"), (0.3, "reject")], ids=["strong", "weak"])
def test_first_model_is_judged_by_its_lower_bound_against_the_floor(strength: float, expected: str):
    for seed in range(20):
        y, challenger, _ = _holdout(seed, 500, None, strength)
        decision = evaluate_gate(POLICY, y, challenger, None)
        assert decision.decision == expected, seed
        assert decision.first_model and decision.comparison is None and decision.champion_value is None
        assert decision.ci_low <= decision.challenger_value <= decision.ci_high
        assert (decision.ci_low > POLICY.floor) is (expected == "promote")
        assert ("does not clear" in decision.reason) is (expected == "reject")


def test_first_model_lower_bound_equal_to_the_floor_is_not_enough():
    y, challenger, _ = _holdout(0, 500, None, 1.5)
    _, low, _ = metric_confidence_interval("auc", y, challenger, alpha=POLICY.alpha)
    at_floor = POLICY.model_copy(update={"floor": low})
    below_floor = POLICY.model_copy(update={"floor": low - 1e-6})
    assert evaluate_gate(at_floor, y, challenger, None).decision == "reject"
    assert evaluate_gate(below_floor, y, challenger, None).decision == "promote"


def test_first_model_floor_on_a_loss_metric_is_a_ceiling():
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    policy = GatePolicy(metric="mae", floor=0.5)
    good = evaluate_gate(policy, y, y + rng.normal(scale=0.05, size=y.size), None)  # MAE ~0.04
    bad = evaluate_gate(policy, y, y + rng.normal(scale=5.0, size=y.size), None)  # MAE ~4
    assert (good.decision, bad.decision) == ("promote", "reject")


# --- champion and challenger --------------------------------------------------------------------------------


def test_a_clearly_better_challenger_is_promoted():
    for seed in range(20):
        y, challenger, champion = _holdout(seed, 500, 1.0, 2.5)
        decision = evaluate_gate(POLICY, y, challenger, champion)
        assert decision.decision == "promote", seed
        assert not decision.first_model and decision.challenger_value > decision.champion_value
        assert decision.comparison["test"] == "delong" and decision.comparison["p_value"] < POLICY.alpha
        assert decision.comparison["effect"] > 0 and "better than the champion" in decision.reason


def test_a_clearly_worse_challenger_on_a_large_holdout_is_rejected():
    y, challenger, champion = _holdout(0, 10_000, 2.5, 1.0)
    decision = evaluate_gate(POLICY, y, challenger, champion)
    assert decision.decision == "reject" and decision.comparison["ci_high"] < 0
    assert "The champion stays" in decision.reason


def test_a_clearly_worse_challenger_is_rejected_whatever_the_power():
    for seed in range(5):
        y, challenger, champion = _holdout(seed, 2000, 2.5, 1.0)
        decision = evaluate_gate(POLICY, y, challenger, champion)
        assert decision.comparison["ci_high"] < 0 < POLICY.min_effect
        assert decision.decision == "reject", (seed, decision.reason)


def test_equal_models_on_a_large_holdout_are_rejected_not_inconclusive():
    decisions = []
    for seed in range(30):
        y, challenger, champion = _holdout(seed, 10_000, 1.0, 1.0)
        decision = evaluate_gate(POLICY, y, challenger, champion)
        assert decision.comparison["mde"] < POLICY.min_effect, "10,000 rows can see a 0.02 AUC gain"
        decisions.append(decision.decision)
    assert "inconclusive" not in decisions
    # Promotions are false positives at rate alpha: 30 * 0.05 = 1.5 expected, 5 is ~3 SE above.
    assert decisions.count("promote") <= 5 and decisions.count("reject") >= 25


def test_equal_models_on_a_tiny_holdout_are_inconclusive_with_rows_needed():
    seen = 0
    for seed in range(30):
        y, challenger, champion = _holdout(seed, 60, 1.0, 1.0)
        decision = evaluate_gate(POLICY, y, challenger, champion)
        comparison = decision.comparison
        assert comparison["mde"] > POLICY.min_effect
        if comparison["p_value"] < POLICY.alpha:
            continue  # a false positive (rate alpha) is a promotion; counted by the calibration test
        if comparison["ci_high"] < POLICY.min_effect:
            # even this small holdout rules out a worthwhile improvement: that is a rejection, not a shrug
            assert decision.decision == "reject", seed
            continue
        seen += 1
        assert decision.decision == "inconclusive", seed
        assert comparison["required_n"] > 10 * len(y)
        assert f"about {comparison['required_n']} rows needed" in decision.reason
        assert "The champion stays" in decision.reason
        assert f"| rows needed for min_effect | {comparison['required_n']} |" in decision.markdown()
    assert seen >= 20


def test_equal_models_are_promoted_at_most_at_rate_alpha():
    """Over 300 seeded holdouts of 500 rows, two equally good models: false promotions <= alpha + 3 SE."""
    simulations, alpha = 300, POLICY.alpha
    promoted = sum(
        evaluate_gate(POLICY, *_holdout(seed, 500, 1.0, 1.0)).decision == "promote" for seed in range(simulations)
    )
    rate, se = promoted / simulations, math.sqrt(alpha * (1 - alpha) / simulations)
    assert rate <= alpha + 3 * se, rate
    assert rate >= alpha - 3 * se, f"{rate}: the test is far more conservative than its stated alpha"


def test_underpowered_non_inferiority_is_inconclusive():
    policy = GatePolicy(metric="auc", rule="non_inferiority", margin=0.01, min_effect=0.0, alpha=0.05)
    y, challenger, champion = _holdout(3, 60, 1.0, 1.0)
    decision = evaluate_gate(policy, y, challenger, champion)
    assert decision.comparison["p_value"] >= policy.alpha
    assert decision.comparison["mde"] > policy.min_effect + policy.margin
    assert decision.decision == "inconclusive"


def test_inconclusive_reason_never_says_none_rows():
    y, challenger, champion = _holdout(3, 500, 1.0, 1.0)
    decision = evaluate_gate(GatePolicy(metric="auc"), y, challenger, champion)
    assert decision.decision == "inconclusive"
    assert "None" not in decision.reason


# --- the decision record ------------------------------------------------------------------------------------


def _round_trip(decision: GateDecision) -> dict:
    return json.loads(json.dumps(decision.to_dict(), allow_nan=False))


@pytest.mark.parametrize("champion", [None, 1.0], ids=["first model", "with champion"])
def test_decision_record_is_json_and_its_id_is_stable(champion: float | None):
    context = {"challenger_version": "3", "holdout_rev": "abc123"}
    y, challenger, champion_scores = _holdout(5, 400, champion, 2.0)
    first = evaluate_gate(POLICY, y, challenger, champion_scores, context)
    again = evaluate_gate(POLICY, y.copy(), challenger.copy(), champion_scores, dict(context))
    record = _round_trip(first)
    assert record["decision_id"] == first.decision_id == again.decision_id
    assert len(first.decision_id) == 12 and record["decision"] == first.decision
    assert record["context"] == context and record["n"] == 400
    other_context = evaluate_gate(POLICY, y, challenger, champion_scores, {**context, "holdout_rev": "def456"})
    assert other_context.decision_id != first.decision_id
    tags = first.summary_tags()
    assert all(isinstance(v, str) for v in tags.values()) and tags["gate.decision_id"] == first.decision_id


def test_decision_id_changes_with_the_scores():
    y, challenger, champion = _holdout(5, 400, 1.0, 2.0)
    reference = evaluate_gate(POLICY, y, challenger, champion)
    nudged = challenger.copy()
    nudged[0] = 1.0 - nudged[0]
    assert evaluate_gate(POLICY, y, nudged, champion).decision_id != reference.decision_id


def test_markdown_names_the_decision_and_the_p_value():
    y, challenger, champion = _holdout(1, 500, 1.0, 2.5)
    decision = evaluate_gate(POLICY, y, challenger, champion, {"challenger_version": "7"})
    text = decision.markdown()
    p_value = decision.comparison["p_value"]
    assert text.startswith("# Gate decision: **promote**")
    assert f"| p-value (one-sided) | {p_value:.3g} |" in text
    assert "| test | delong |" in text and "| challenger_version | 7 |" in text
    assert decision.reason in text


def test_markdown_of_a_first_model_shows_its_interval():
    y, challenger, _ = _holdout(1, 500, None, 2.5)
    decision = evaluate_gate(POLICY, y, challenger, None)
    text = decision.markdown()
    assert "| champion | none (first model) |" in text
    assert f"| CI of metric | [{decision.ci_low:.4f}, {decision.ci_high:.4f}] |" in text
    assert "p-value" not in text


# --- several metrics, slices and behaviour (details in test_gate_checks.py) --------------------------------


def test_one_metric_without_a_frame_is_the_plain_gate():
    """Callers that pass no holdout frame get the metric verdict alone, with a one-row metrics table."""
    y, challenger, champion = _holdout(2, 500, 1.0, 2.5)
    decision = evaluate_gate(POLICY, y, challenger, champion)
    assert decision.slices == [] and decision.behaviour == [] and decision.blocking_checks == []
    [row] = decision.metrics
    assert row["metric"] == "auc" and row["p_adjusted"] == row["p_value"] == decision.comparison["p_value"]
    assert "## " not in decision.markdown()  # no extra tables


def test_a_metric_listed_twice_is_tested_once():
    policy = POLICY.model_copy(update={"metrics": ("auc", "brier", "auc")})
    assert policy.all_metrics == ("auc", "brier")
    y, challenger, champion = _holdout(3, 500, 1.0, 2.5)
    assert [row["metric"] for row in evaluate_gate(policy, y, challenger, champion).metrics] == ["auc", "brier"]


def test_several_metrics_promote_only_when_every_adjusted_p_is_below_alpha():
    policy = POLICY.model_copy(update={"metrics": ("brier", "log_loss")})
    for seed in range(10):
        y, challenger, champion = _holdout(seed, 800, 1.0, 2.5)
        decision = evaluate_gate(policy, y, challenger, champion)
        every = all(row["p_adjusted"] < POLICY.alpha for row in decision.metrics)
        assert (decision.decision == "promote") is every, seed


# --- practical threshold ------------------------------------------------------------------------------------


def test_a_significant_but_tiny_improvement_is_rejected_under_min_promoted_effect():
    """Nearly identical models (shared noise, tiny strength gap) on a huge holdout: the improvement is
    significant but far below the practical threshold, so it is rejected with that reason."""
    policy = POLICY.model_copy(update={"min_promoted_effect": 0.01})
    rng = np.random.default_rng(5)
    y = _labels(rng, 40_000)
    noise = rng.normal(size=y.size)
    champion = 1 / (1 + np.exp(-(1.0 * y + noise)))
    challenger = 1 / (1 + np.exp(-(1.03 * y + noise + rng.normal(0, 0.02, y.size))))
    plain, strict = evaluate_gate(POLICY, y, challenger, champion), evaluate_gate(policy, y, challenger, champion)
    assert plain.decision == "promote" and 0 < plain.comparison["effect"] < 0.01
    assert strict.decision == "reject" and "min_promoted_effect 0.01" in strict.reason


def test_min_promoted_effect_keeps_clear_improvements_and_lowers_false_promotions():
    policy = POLICY.model_copy(update={"min_promoted_effect": 0.01})
    for seed in range(20):
        assert evaluate_gate(policy, *_holdout(seed, 500, 1.0, 2.5)).decision == "promote", seed
    plain = sum(evaluate_gate(POLICY, *_holdout(s, 500, 1.0, 1.0)).decision == "promote" for s in range(200))
    strict = sum(evaluate_gate(policy, *_holdout(s, 500, 1.0, 1.0)).decision == "promote" for s in range(200))
    assert strict <= plain
