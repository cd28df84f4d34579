"""Bad input raises GateInputError (a ValueError) whose message says what is wrong and how to fix it."""

import math

import numpy as np
import pytest

from ml.stats import GateInputError, compare_paired, delong_paired, metric_confidence_interval, metric_value

Y = [0, 1, 0, 1, 1, 0]
A = [0.2, 0.7, 0.4, 0.6, 0.9, 0.1]
B = [0.3, 0.8, 0.2, 0.5, 0.7, 0.4]

# (case, metric, y_true, champion, challenger, settings, message fragments)
COMPARE_CASES = [
    ("mismatched lengths", "auc", Y, A[:-1], B, {}, ["lengths differ", "champion_scores=5", "same rows"]),
    ("empty", "mae", [], [], [], {}, ["y_true is empty", "at least one"]),
    ("nan score", "brier", Y, A, [*B[:-1], math.nan], {}, ["challenger_scores contains 1 NaN", "row 5", "drop"]),
    ("infinite label", "mae", [1.0, math.inf], [1.0, 2.0], [1.0, 2.0], {}, ["y_true contains 1 NaN or infinite"]),
    ("label 2", "accuracy", [0, 1, 2], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3], {}, ["only 0 and 1", "found 2", "encode"]),
    ("labels -1/1", "log_loss", [-1, 1], [0.1, 0.9], [0.2, 0.8], {}, ["only 0 and 1", "found -1"]),
    (
        "one class",
        "auc",
        [1, 1, 1],
        [0.1, 0.2, 0.3],
        [0.3, 0.2, 0.1],
        {},
        ["AUC is undefined when the holdout has only one class; collect more labelled rows or use another metric"],
    ),
    ("one positive", "auc", [1, 0, 0, 0], A[:4], B[:4], {}, ["at least 2 rows of each class", "1 positive"]),
    ("unknown metric", "f1", Y, A, B, {}, ["unknown metric 'f1'", "auc, accuracy, log_loss, brier, mae, rmse"]),
    ("alpha zero", "auc", Y, A, B, {"alpha": 0.0}, ["alpha must be", "between 0 and 0.5"]),
    ("alpha one", "auc", Y, A, B, {"alpha": 1.0}, ["alpha must be"]),
    ("alpha nan", "auc", Y, A, B, {"alpha": math.nan}, ["alpha must be"]),
    ("power one", "auc", Y, A, B, {"power": 1.0}, ["power must be", "between 0 and 1"]),
    ("power zero", "auc", Y, A, B, {"power": 0.0}, ["power must be"]),
    ("negative margin", "auc", Y, A, B, {"rule": "non_inferiority", "margin": -0.01}, ["margin must be", ">= 0"]),
    ("negative min_effect", "auc", Y, A, B, {"min_effect": -0.01}, ["min_effect must be", ">= 0"]),
    ("margin on superiority", "auc", Y, A, B, {"margin": 0.01}, ["only applies to rule='non_inferiority'"]),
    ("unknown rule", "auc", Y, A, B, {"rule": "better"}, ["unknown rule 'better'", "superiority, non_inferiority"]),
    ("score above one", "log_loss", Y, A, [*B[:-1], 1.2], {}, ["probabilities in [0, 1]", "predict_proba"]),
    ("two-dimensional", "mae", [[1.0], [2.0]], [1.0, 2.0], [1.0, 2.0], {}, ["must be 1-D", "ravel"]),
    ("text", "mae", ["a", "b"], [1.0, 2.0], [1.0, 2.0], {}, ["y_true must be numeric"]),
    ("too few resamples", "brier", Y, A, B, {"n_resamples": 10}, ["can never give p < alpha", "at least 20"]),
    ("fractional resamples", "brier", Y, A, B, {"n_resamples": 99.5}, ["n_resamples must be a positive integer"]),
    ("negative seed", "brier", Y, A, B, {"seed": -1}, ["seed must be a non-negative integer"]),
    ("nan threshold", "accuracy", Y, A, B, {"threshold": math.nan}, ["threshold must be a finite number"]),
    ("one row", "mae", [1.0], [1.0], [2.0], {}, ["at least 2 holdout rows", "got 1"]),
]


@pytest.mark.parametrize(
    ("metric", "y_true", "champion", "challenger", "settings", "fragments"),
    [case[1:] for case in COMPARE_CASES],
    ids=[case[0] for case in COMPARE_CASES],
)
def test_compare_paired_rejects_bad_input_with_a_helpful_message(
    metric: str, y_true: list, champion: list, challenger: list, settings: dict, fragments: list[str]
) -> None:
    with pytest.raises(GateInputError) as raised:
        compare_paired(metric, y_true, champion, challenger, **settings)
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_gate_input_error_is_a_value_error() -> None:
    assert issubclass(GateInputError, ValueError)


def test_single_model_entry_points_validate_too() -> None:
    with pytest.raises(GateInputError, match="only one class"):
        metric_value("auc", [0, 0], [0.1, 0.2])
    with pytest.raises(GateInputError, match="unknown metric"):
        metric_confidence_interval("r2", [0.0, 1.0], [0.0, 1.0])
    with pytest.raises(GateInputError, match="alpha must be"):
        metric_confidence_interval("mae", [0.0, 1.0], [0.0, 1.0], alpha=0.7)
    with pytest.raises(GateInputError, match="scores contains 1 NaN"):
        metric_value("rmse", [0.0, 1.0], [np.nan, 1.0])
    with pytest.raises(GateInputError, match="lengths differ"):
        delong_paired([0, 1], [0.1, 0.2], [0.1, 0.2, 0.3])


def test_auc_accepts_scores_outside_zero_one_because_only_ranks_matter() -> None:
    logits = np.log(np.array(A) / (1 - np.array(A)))
    assert metric_value("auc", Y, logits) == pytest.approx(metric_value("auc", Y, A))
