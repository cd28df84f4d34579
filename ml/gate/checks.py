"""The gate's extra checks: several metrics, contract slices and behavioural tests, as pure functions.

Each function takes arrays or a frame plus the contract's specs and returns JSON-able dicts (one per
metric, slice or test), so the decision record can hold them unchanged. Nothing here decides on its own:
``ml.gate.decision`` turns the rows into a verdict.

- Metrics: every metric of ``gate.all_metrics`` is compared with the gate's rule; the one-sided p-values are
  Holm-adjusted together, so promoting on "all adjusted p < alpha" keeps the family-wise false-promotion
  rate at alpha.
- Slices: each slice with at least ``gate.min_slice_rows`` holdout rows must be non-inferior within
  ``gate.slice_margin`` (Holm across the tested slices); a slice whose adjusted p >= alpha fails. Smaller
  slices are reported as skipped and do not block.
- Behaviour (Made-With-ML style): invariance, directional and minimum-functionality tests on a predict
  callable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ml.contract import BehaviourSpec, GatePolicy, SliceSpec
from ml.stats import GateInputError

if TYPE_CHECKING:
    import pandas as pd

Predict = Callable[["pd.DataFrame"], np.ndarray]

# A score change smaller than this is numerical noise, not a violation of a directional test.
DIRECTION_TOLERANCE = 1e-6


# --- several metrics ----------------------------------------------------------------------------------------


def compare_metrics(policy: GatePolicy, y: np.ndarray, champion: np.ndarray, challenger: np.ndarray) -> list:
    """Compare every metric of ``policy.all_metrics``: a list of (MetricComparison, Holm-adjusted p) pairs."""
    from ml.stats import compare_paired, holm

    comparisons = [
        compare_paired(
            metric,
            y,
            champion,
            challenger,
            rule=policy.rule,
            alpha=policy.alpha,
            min_effect=policy.min_effect,
            margin=policy.margin,
            power=policy.power,
            threshold=policy.threshold,
        )
        for metric in policy.all_metrics
    ]
    return list(zip(comparisons, holm([c.p_value for c in comparisons]), strict=True))


# --- slices -------------------------------------------------------------------------------------------------


def describe_slice(spec: SliceSpec) -> str:
    """The slice's selector in words, e.g. ``month in [12, 1, 2]`` or ``-inf <= temperature < -1.0``."""
    if spec.months is not None:
        return f"month in {list(spec.months)}"
    if spec.values is not None:
        return f"{spec.column} in {list(spec.values)}"
    low = "-inf" if spec.min is None else spec.min
    high = "inf" if spec.max is None else spec.max
    return f"{low} <= {spec.column} < {high}"


def slice_mask(frame: pd.DataFrame, spec: SliceSpec, timestamp: str) -> np.ndarray:
    """Boolean row mask of ``spec`` on ``frame``: calendar months of ``timestamp``, a range [min, max), or values.

    Raises GateInputError when the column the slice needs is not in the frame; zero matching rows is not an
    error (the slice is then too small to test).
    """
    import pandas as pd

    column = timestamp if spec.months is not None else spec.column
    if column not in frame.columns:
        raise GateInputError(
            f"slice {spec.name!r} needs column {column!r}, which the holdout lacks "
            f"(columns: {sorted(frame.columns)}); fix the contract's `slices`"
        )
    values = frame[column]
    if spec.months is not None:
        return pd.to_datetime(values).dt.month.isin(spec.months).to_numpy()
    if spec.values is not None:
        return values.isin(spec.values).to_numpy()
    mask = np.ones(len(frame), dtype=bool)
    if spec.min is not None:
        mask &= (values >= spec.min).to_numpy()
    if spec.max is not None:
        mask &= (values < spec.max).to_numpy()
    return mask


def _slice_comparison(policy: GatePolicy, y, champion, challenger, mask) -> dict:
    from ml.stats import compare_paired

    comparison = compare_paired(
        policy.metric,
        y[mask],
        champion[mask],
        challenger[mask],
        rule="non_inferiority",
        alpha=policy.alpha,
        margin=policy.slice_margin,
        power=policy.power,
        threshold=policy.threshold,
    )
    return {
        key: comparison.to_dict()[key]
        for key in ("test", "champion_value", "challenger_value", "effect", "ci_low", "ci_high", "p_value")
    }


def compare_slices(
    policy: GatePolicy,
    frame: pd.DataFrame,
    y: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    slices: Sequence[SliceSpec],
    timestamp: str,
) -> list[dict]:
    """One row per slice: ``status`` is passed, failed or skipped, with the reason and the test's numbers.

    A slice passes when non-inferiority within ``policy.slice_margin`` is shown at Holm-adjusted p < alpha
    on ``policy.metric``; slices under ``policy.min_slice_rows`` rows, or where the metric cannot be computed
    (e.g. one class only), are skipped and do not block.
    """
    y, champion, challenger = (np.asarray(a) for a in (y, champion, challenger))
    rows = []
    for spec in slices:
        mask = slice_mask(frame, spec, timestamp)
        row = {
            "name": spec.name,
            "selector": describe_slice(spec),
            "rows": int(mask.sum()),
            "status": "skipped",
            "margin": policy.slice_margin,
        }
        if row["rows"] < policy.min_slice_rows:
            row["reason"] = f"skipped: too small ({row['rows']} rows < {policy.min_slice_rows})"
        else:
            try:
                row.update(_slice_comparison(policy, y, champion, challenger, mask))
            except GateInputError as error:
                row["reason"] = f"skipped: not testable ({error})"
        rows.append(row)
    _adjust_slices(policy, [row for row in rows if "p_value" in row])
    return rows


def _adjust_slices(policy: GatePolicy, tested: list[dict]) -> None:
    from ml.stats import holm

    for row, adjusted in zip(tested, holm([row["p_value"] for row in tested]), strict=True):
        row["p_adjusted"] = adjusted
        passed = adjusted < policy.alpha
        row["status"] = "passed" if passed else "failed"
        row["reason"] = (
            f"{'non-inferior' if passed else 'non-inferiority not shown'} within margin "
            f"{policy.slice_margin}: effect {row['effect']:+.4f}, Holm-adjusted p={adjusted:.3g}"
        )


# --- behaviour ----------------------------------------------------------------------------------------------


def _shifted(frame: pd.DataFrame, feature: str, delta: float) -> pd.DataFrame:
    if feature not in frame.columns:
        raise GateInputError(
            f"behavioural test names feature {feature!r}, which the holdout lacks; fix the contract's `gate.behaviour`"
        )
    return frame.assign(**{feature: frame[feature] + delta})


def invariance_test(predict: Predict, frame: pd.DataFrame, feature: str, delta: float, tolerance: float) -> dict:
    """Passes when adding ``delta`` to ``feature`` moves no row's score by more than ``tolerance``."""
    change = np.abs(np.asarray(predict(_shifted(frame, feature, delta))) - np.asarray(predict(frame)))
    measured = float(change.max()) if change.size else 0.0
    return {
        "kind": "invariance",
        "name": f"{feature} + {delta:g}",
        "passed": measured <= tolerance,
        "measured": measured,
        "limit": tolerance,
        "detail": f"max |score change| {measured:.4g} (tolerance {tolerance:g}) over {change.size} rows",
    }


def directional_test(
    predict: Predict, frame: pd.DataFrame, feature: str, delta: float, direction: str, max_violation_share: float = 0.0
) -> dict:
    """Passes when the share of rows whose score moves against ``direction`` (beyond 1e-6) is at most the limit."""
    change = np.asarray(predict(_shifted(frame, feature, delta))) - np.asarray(predict(frame))
    against = change < -DIRECTION_TOLERANCE if direction == "increase" else change > DIRECTION_TOLERANCE
    share = float(against.mean()) if change.size else 0.0
    return {
        "kind": "directional",
        "name": f"{feature} + {delta:g} -> {direction}",
        "passed": share <= max_violation_share,
        "measured": share,
        "limit": max_violation_share,
        "detail": f"{int(against.sum())} of {change.size} rows move the other way",
    }


def minimum_functionality_test(
    predict: Predict, template: pd.DataFrame, name: str, row: dict, expected: int, threshold: float
) -> dict:
    """Passes when the hand-written ``row`` is labelled ``expected`` at ``threshold``.

    Columns the row leaves out take the first row of ``template`` (so timestamps and dtypes stay valid); the
    contracts give every feature, since the features are what the model reads.
    """
    missing = sorted(set(row) - set(template.columns))
    if missing:
        raise GateInputError(f"minimum-functionality row {name!r} names columns {missing} the holdout lacks")
    if template.empty:
        raise GateInputError(f"minimum-functionality row {name!r} needs a non-empty holdout as a template")
    frame = template.iloc[:1].assign(**row)
    score = float(np.asarray(predict(frame))[0])
    label = int(score >= threshold)
    return {
        "kind": "minimum_functionality",
        "name": name,
        "passed": label == expected,
        "measured": score,
        "limit": threshold,
        "detail": f"score {score:.4f} -> label {label}, expected {expected}",
    }


def run_behaviour(predict: Predict, frame: pd.DataFrame, spec: BehaviourSpec, threshold: float) -> list[dict]:
    """Every behavioural test of ``spec`` on ``predict`` over the holdout ``frame``; one result dict each."""
    results = [invariance_test(predict, frame, t.feature, t.delta, t.tolerance) for t in spec.invariance]
    results += [
        directional_test(predict, frame, t.feature, t.delta, t.direction, t.max_violation_share)
        for t in spec.directional
    ]
    results += [
        minimum_functionality_test(predict, frame, t.name, dict(t.row), t.expected, threshold)
        for t in spec.minimum_functionality
    ]
    return results
