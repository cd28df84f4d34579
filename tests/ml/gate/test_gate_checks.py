"""The gate's extra checks: slices, behavioural tests and several metrics, alone and inside the gate.

Scores come from the latent-signal model of test_gate.py: sigmoid(strength * y + noise), so a larger
strength is a better model. Stochastic claims are rates over many seeded holdouts.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ml.contract import BehaviourSpec, ContractError, GatePolicy, SliceSpec, load_contract, parse_contract
from ml.gate.checks import (
    compare_metrics,
    compare_slices,
    directional_test,
    invariance_test,
    minimum_functionality_test,
    run_behaviour,
    slice_mask,
)
from ml.gate.decision import GateDecision, evaluate_gate
from ml.stats import GateInputError, holm

POLICY = GatePolicy(metric="auc", rule="superiority", alpha=0.05, min_effect=0.02, power=0.8, floor=0.70)


def _scores(rng: np.random.Generator, y: np.ndarray, strength: float | np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(strength * y + rng.normal(size=y.size))))


def _frame(seed: int, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A holdout of n rows: two regions, a numeric x, daily dates from 2000-01-01, balanced labels."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 2)
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2000-01-01", periods=n, freq="D", tz="UTC"),
            "region": np.where(np.arange(n) % 4 == 0, "b", "a"),
            "x": rng.normal(size=n),
            "y": y,
        }
    )
    return frame, y


# --- slice selection ----------------------------------------------------------------------------------------

SELECTION = pd.DataFrame(
    {
        "date": pd.to_datetime(["2000-01-15", "2000-02-15", "2000-06-15", "2000-12-31"]),
        "x": [-2.0, -1.0, 0.0, 1.0],
        "kind": ["p", "q", "p", "r"],
    }
)


@pytest.mark.parametrize(
    ("spec", "rows"),
    [
        ({"months": [12, 1, 2]}, [0, 1, 3]),
        ({"months": [7]}, []),
        ({"column": "x", "max": -1.0}, [0]),  # max is exclusive
        ({"column": "x", "min": -1.0}, [1, 2, 3]),  # min is inclusive
        ({"column": "x", "min": -1.0, "max": 1.0}, [1, 2]),
        ({"column": "kind", "values": ["p", "r"]}, [0, 2, 3]),
        ({"column": "kind", "values": ["z"]}, []),
    ],
    ids=["months", "no-month", "max-exclusive", "min-inclusive", "range", "values", "no-value"],
)
def test_slice_selection(spec: dict, rows: list[int]):
    mask = slice_mask(SELECTION, SliceSpec(name="s", **spec), "date")
    assert np.flatnonzero(mask).tolist() == rows


def test_a_slice_on_a_missing_column_is_an_error_that_names_it():
    with pytest.raises(GateInputError, match="'humidity'"):
        slice_mask(SELECTION, SliceSpec(name="s", column="humidity", max=0), "date")


def test_small_and_empty_slices_are_skipped_with_their_row_count():
    frame, y = _frame(0, 400)
    rng = np.random.default_rng(0)
    champion, challenger = _scores(rng, y, 1.0), _scores(rng, y, 1.0)
    slices = [SliceSpec(name="january", months=(1,)), SliceSpec(name="none", column="x", min=99)]
    rows = compare_slices(POLICY, frame, y, champion, challenger, slices, "date")
    assert [(r["status"], r["rows"]) for r in rows] == [("skipped", 62), ("skipped", 0)]
    assert rows[0]["reason"] == "skipped: too small (62 rows < 100)"
    assert rows[1]["reason"] == "skipped: too small (0 rows < 100)"


def test_slice_p_values_are_holm_adjusted_across_the_tested_slices():
    frame, y = _frame(1, 1200)
    rng = np.random.default_rng(1)
    champion, challenger = _scores(rng, y, 1.5), _scores(rng, y, 1.5)
    slices = [
        SliceSpec(name="a", column="region", values=("a",)),
        SliceSpec(name="b", column="region", values=("b",)),
        SliceSpec(name="tiny", column="x", min=2.5),
        SliceSpec(name="high_x", column="x", min=0),
    ]
    rows = compare_slices(POLICY, frame, y, champion, challenger, slices, "date")
    tested = [r for r in rows if r["status"] != "skipped"]
    assert [r["name"] for r in tested] == ["a", "b", "high_x"]  # x >= 2.5: under 1 % of rows
    assert [r["p_adjusted"] for r in tested] == pytest.approx(holm([r["p_value"] for r in tested]))
    assert all((r["status"] == "passed") is (r["p_adjusted"] < POLICY.alpha) for r in tested)


def test_equal_models_pass_every_large_slice_most_of_the_time():
    """Equal models are non-inferior within 0.05 AUC; 300-row slices have the power to show it."""
    passed = 0
    for seed in range(40):
        frame, y = _frame(seed, 1200)
        rng = np.random.default_rng(seed)
        rows = compare_slices(
            POLICY,
            frame,
            y,
            _scores(rng, y, 2.0),
            _scores(rng, y, 2.0),
            [SliceSpec(name="b", column="region", values=("b",))],
            "date",
        )
        passed += rows[0]["status"] == "passed"
    assert passed >= 30


# --- slices in the gate -------------------------------------------------------------------------------------


def _degraded_in_b(seed: int, n: int = 1600):
    """The challenger is much better overall but useless in region b (a quarter of the rows)."""
    frame, y = _frame(seed, n)
    rng = np.random.default_rng(seed)
    strength = np.where(frame["region"] == "b", 0.0, 4.0)
    return frame, y, _scores(rng, y, 1.0), _scores(rng, y, strength)


REGIONS = [
    SliceSpec(name="region_a", column="region", values=("a",)),
    SliceSpec(name="region_b", column="region", values=("b",)),
]


def test_a_degraded_slice_blocks_promotion_and_is_named():
    for seed in range(10):
        frame, y, champion, challenger = _degraded_in_b(seed)
        assert evaluate_gate(POLICY, y, challenger, champion).decision == "promote", seed  # overall: better
        decision = evaluate_gate(POLICY, y, challenger, champion, holdout=frame, slices=REGIONS, timestamp="date")
        assert decision.decision == "reject", seed
        assert "slice region_b" in decision.reason and "region_a" not in decision.reason
        assert decision.blocking_checks == ["slice region_b"]
        assert [r["status"] for r in decision.slices] == ["passed", "failed"]


def test_a_degraded_slice_too_small_to_test_does_not_block():
    frame, y, champion, challenger = _degraded_in_b(0, n=360)  # region b: 90 rows
    decision = evaluate_gate(POLICY, y, challenger, champion, holdout=frame, slices=REGIONS, timestamp="date")
    assert decision.decision == "promote"
    assert decision.slices[1]["status"] == "skipped" and "too small (90 rows" in decision.slices[1]["reason"]


def test_no_champion_means_no_slices():
    frame, y, _, challenger = _degraded_in_b(0)
    decision = evaluate_gate(POLICY, y, challenger, None, holdout=frame, slices=REGIONS, timestamp="date")
    assert decision.first_model and decision.decision == "promote" and decision.slices == []


# --- behaviour ----------------------------------------------------------------------------------------------


def _toy_predict(frame: pd.DataFrame) -> np.ndarray:
    """Rises with x, ignores region and date; a tiny wiggle in x makes a few rows move against the trend."""
    x = frame["x"].to_numpy()
    return 1.0 / (1.0 + np.exp(-(2.0 * x + 0.11 * np.sin(20 * x))))


def test_invariance_passes_for_an_ignored_feature_and_fails_for_a_used_one():
    frame, _ = _frame(0, 300)
    frame["noise"] = 0.0
    assert invariance_test(_toy_predict, frame, "noise", 5.0, 1e-9)["passed"]
    result = invariance_test(_toy_predict, frame, "x", 0.5, 0.05)
    assert not result["passed"] and result["measured"] > 0.05 and result["kind"] == "invariance"


def test_directional_counts_the_rows_that_move_the_wrong_way():
    frame, _ = _frame(0, 2000)
    strict = directional_test(_toy_predict, frame, "x", 0.001, "increase")
    assert 0 < strict["measured"] < 0.2 and not strict["passed"]  # the wiggle wins on a few rows
    assert directional_test(_toy_predict, frame, "x", 0.001, "increase", max_violation_share=0.2)["passed"]
    assert directional_test(_toy_predict, frame, "x", 1.0, "increase")["passed"]
    wrong = directional_test(_toy_predict, frame, "x", 1.0, "decrease")
    assert not wrong["passed"] and wrong["measured"] == 1.0


@pytest.mark.parametrize(("x", "expected", "passed"), [(3.0, 1, True), (-3.0, 0, True), (3.0, 0, False)])
def test_minimum_functionality_labels_a_named_row_at_the_threshold(x: float, expected: int, passed: bool):
    frame, _ = _frame(0, 10)
    result = minimum_functionality_test(_toy_predict, frame, "named", {"x": x}, expected, 0.5)
    assert result["passed"] is passed and result["name"] == "named"


def test_a_failing_behavioural_test_blocks_promotion_and_is_named():
    frame, y = _frame(0, 600)
    rng = np.random.default_rng(0)
    challenger = _scores(rng, y, 3.0)
    spec = BehaviourSpec.model_validate(
        {
            "directional": [{"feature": "x", "delta": 1.0, "direction": "decrease"}],
            "minimum_functionality": [{"name": "big_x", "row": {"x": 3}, "expected": 1}],
        }
    )
    policy = POLICY.model_copy(update={"behaviour": spec})
    decision = evaluate_gate(policy, y, challenger, None, holdout=frame, predict=_toy_predict)
    assert decision.decision == "reject" and "directional x + 1 -> decrease" in decision.reason
    assert [r["passed"] for r in decision.behaviour] == [False, True]
    passing = POLICY.model_copy(update={"behaviour": spec.model_copy(update={"directional": ()})})
    assert evaluate_gate(passing, y, challenger, None, holdout=frame, predict=_toy_predict).decision == "promote"


def test_behaviour_on_a_missing_feature_is_an_error():
    frame, _ = _frame(0, 10)
    spec = BehaviourSpec.model_validate({"invariance": [{"feature": "nope", "delta": 1, "tolerance": 0}]})
    with pytest.raises(GateInputError, match="'nope'"):
        run_behaviour(_toy_predict, frame, spec, 0.5)


# --- several metrics ----------------------------------------------------------------------------------------


def test_metric_p_values_are_holm_adjusted_together():
    frame, y = _frame(3, 800)
    rng = np.random.default_rng(3)
    policy = POLICY.model_copy(update={"metrics": ("auc", "log_loss", "brier")})
    assert policy.all_metrics == ("auc", "log_loss", "brier")
    pairs = compare_metrics(policy, y, _scores(rng, y, 1.0), _scores(rng, y, 1.4))
    assert [p for _, p in pairs] == pytest.approx(holm([c.p_value for c, _ in pairs]))


def test_equal_models_on_several_metrics_are_promoted_at_most_at_alpha():
    policy = POLICY.model_copy(update={"metrics": ("accuracy", "brier")})
    promoted = 0
    for seed in range(200):
        _, y = _frame(seed, 300)
        rng = np.random.default_rng(seed)
        promoted += evaluate_gate(policy, y, _scores(rng, y, 1.5), _scores(rng, y, 1.5)).decision == "promote"
    assert promoted / 200 <= 0.05 + 0.03  # 0.05 plus about two binomial standard errors


def test_promotion_needs_every_metric():
    """Better ranking, worse calibration: AUC improves, log loss gets much worse; the metric is named."""
    _, y = _frame(5, 1000)
    rng = np.random.default_rng(5)
    champion = _scores(rng, y, 1.5)
    logits = 2.5 * y + rng.normal(size=y.size)
    challenger = 1.0 / (1.0 + np.exp(-20.0 * (logits - 1.25)))  # ranks as strength 2.5, overconfident
    only_auc = evaluate_gate(POLICY, y, challenger, champion)
    both = evaluate_gate(POLICY.model_copy(update={"metrics": ("log_loss",)}), y, challenger, champion)
    assert only_auc.decision == "promote"
    assert both.decision == "reject" and "log_loss:" in both.reason
    assert [(r["metric"], r["verdict"]) for r in both.metrics] == [("auc", "promote"), ("log_loss", "reject")]


# --- the record ---------------------------------------------------------------------------------------------


def test_the_decision_with_every_table_survives_a_json_round_trip_and_renders():
    frame, y, champion, challenger = _degraded_in_b(0)
    spec = BehaviourSpec.model_validate(
        {
            "directional": [{"feature": "x", "delta": 1.0, "direction": "increase"}],
            "minimum_functionality": [{"name": "low_x", "row": {"x": -3}, "expected": 0}],
        }
    )
    policy = POLICY.model_copy(update={"metrics": ("brier",), "behaviour": spec})
    slices = [*REGIONS, SliceSpec(name="extreme_x", column="x", min=2.5)]
    decision = evaluate_gate(
        policy,
        y,
        challenger,
        champion,
        {"champion_version": "3"},
        holdout=frame,
        predict=_toy_predict,
        slices=slices,
        timestamp="date",
    )
    record = json.loads(json.dumps(decision.to_dict(), allow_nan=False))
    record.pop("decision_id")
    assert GateDecision(**record) == decision and GateDecision(**record).decision_id == decision.decision_id
    text = decision.markdown()
    for heading in ("## Metrics", "## Slices", "## Behavioural tests", "| region_b |", "skipped: too small"):
        assert heading in text
    tags = decision.summary_tags()
    assert tags["gate.slices"] == "1 failed, 1 passed, 1 skipped" and tags["gate.behaviour"] == "2 passed"


# --- the contract -------------------------------------------------------------------------------------------


def test_behaviour_specs_forbid_unknown_keys_and_unknown_features():
    with pytest.raises(ValueError, match="toleranse"):
        BehaviourSpec.model_validate({"invariance": [{"feature": "x", "delta": 1, "toleranse": 0}]})
    data = load_contract("include/contracts/weather.yaml").model_dump(mode="json")
    data["gate"]["behaviour"]["directional"][0]["feature"] = "humidity"
    with pytest.raises(ContractError, match="humidity"):
        parse_contract(data)


def test_the_weather_contract_has_behaviour_tests_and_its_slices():
    gate = load_contract("include/contracts/weather.yaml").gate
    assert gate.behaviour.directional and gate.behaviour.minimum_functionality
    assert (gate.min_slice_rows, gate.slice_margin, gate.all_metrics) == (100, 0.05, ("auc",))
