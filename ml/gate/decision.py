"""The champion-challenger gate: a paired test on one fresh holdout, with a decision record.

Both models are scored on the same out-of-time holdout that neither trained on; the champion is always
re-scored, never judged by stored numbers. Decisions:

- ``promote``: the one-sided test at ``alpha`` says the challenger is better (superiority) or not worse
  than ``margin`` (non-inferiority). A significant result keeps its stated false-promotion rate (alpha)
  whatever the holdout size.
- ``inconclusive``: not significant, and the holdout could not have detected ``min_effect`` at the
  stated power (its minimum detectable effect is larger); the record says how many rows would be needed.
  The champion stays.
- ``reject``: not significant, and either the holdout had the power to see ``min_effect`` or the
  confidence interval already rules out an improvement of ``min_effect`` (its upper bound is below it).
  Two models with identical predictions on every row are rejected too: nothing can tell them apart.

``min_effect`` sizes the holdout (power); it is not a threshold on the promoted effect. By default any
significant improvement promotes; ``min_promoted_effect`` (superiority) rejects a significant improvement
smaller than it as not worth a release: seed-to-seed differences are real on a given holdout and would
otherwise be promoted (bench/results/gate.md). It only lowers the false-promotion rate; the power to promote a
true effect d falls to about P(estimate >= min_promoted_effect), so keep it well below ``min_effect``.

With no champion, the first model is promoted when the lower confidence bound of its metric clears the
contract's ``floor``. Ties keep the champion. The verdict is a value, not an exception (TFX style).

Further checks (``ml.gate.checks``), each recorded as a table in the decision:

- Several metrics (``gate.metrics``): every metric is compared with the same rule and the p-values are
  Holm-adjusted together; the challenger is promoted only if every adjusted p < alpha. Any metric's
  ``reject`` rejects; otherwise any ``inconclusive`` keeps the champion as inconclusive.
- Slices (when a champion exists and the holdout frame is given): each slice with at least
  ``gate.min_slice_rows`` rows must be non-inferior within ``gate.slice_margin`` at Holm-adjusted p < alpha;
  a failing slice turns ``promote`` into ``reject`` and is named. Smaller slices are skipped, not failed.
- Behaviour (when a predict function is given, first model included): any failing invariance, directional
  or minimum-functionality test turns ``promote`` into ``reject`` and is named.
- Baseline (``gate.baseline.check``, when the baseline's scores are given): the cheapest model (logistic
  regression, or ridge) trained on the same window and scored on the same holdout. A challenger significantly
  worse than it (one-sided paired test of the primary metric at ``alpha``) is rejected with that reason,
  whatever the champion comparison said.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from ml.contract import GatePolicy, SliceSpec

if TYPE_CHECKING:
    import pandas as pd

    from ml.gate.checks import Predict

_SEVERITY = {"promote": 0, "inconclusive": 1, "reject": 2}


@dataclass(frozen=True)
class GateDecision:
    decision: str  # promote | reject | inconclusive
    reason: str
    metric: str
    rule: str
    n: int
    alpha: float
    first_model: bool
    challenger_value: float
    champion_value: float | None = None
    comparison: dict | None = None  # the full MetricComparison, when a champion exists
    ci_low: float | None = None
    ci_high: float | None = None
    context: dict = field(default_factory=dict)  # versions, holdout data version, ...
    metrics: list = field(default_factory=list)  # every gate metric: comparison, Holm-adjusted p, verdict
    slices: list = field(default_factory=list)  # every contract slice: rows, status, reason, test numbers
    behaviour: list = field(default_factory=list)  # every behavioural test: kind, name, passed, measured
    baseline: dict | None = None  # the baseline guard: family, values, effect, CI, p-value, challenger_worse

    @property
    def decision_id(self) -> str:
        payload = json.dumps({k: v for k, v in asdict(self).items()}, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        return {"decision_id": self.decision_id, **asdict(self)}

    def summary_tags(self) -> dict[str, str]:
        tags = {
            "gate.decision": self.decision,
            "gate.decision_id": self.decision_id,
            "gate.metric": self.metric,
            "gate.rule": self.rule,
            "gate.n": str(self.n),
            "gate.challenger_value": f"{self.challenger_value:.4f}",
        }
        if self.comparison:
            tags.update(
                {
                    "gate.effect": f"{self.comparison['effect']:.4f}",
                    "gate.p_value": f"{self.comparison['p_value']:.3g}",
                    "gate.mde": f"{self.comparison['mde']:.4f}",
                }
            )
        if len(self.metrics) > 1:
            tags["gate.metrics"] = ",".join(row["metric"] for row in self.metrics)
        if self.slices:
            tags["gate.slices"] = _count(row["status"] for row in self.slices)
        if self.behaviour:
            tags["gate.behaviour"] = _count("passed" if row["passed"] else "failed" for row in self.behaviour)
        if self.baseline:
            tags["gate.baseline"] = f"{self.baseline['family']} {self.baseline['baseline_value']:.4f}"
        return tags

    @property
    def blocking_checks(self) -> list[str]:
        """Names of the failed slices and behavioural tests (each of them blocks promotion)."""
        baseline = (
            [f"{self.baseline['family']} baseline"] if self.baseline and self.baseline["challenger_worse"] else []
        )
        return (
            [f"slice {row['name']}" for row in self.slices if row["status"] == "failed"]
            + [f"{row['kind']} {row['name']}" for row in self.behaviour if not row["passed"]]
            + baseline
        )

    def markdown(self) -> str:
        lines = [f"# Gate decision: **{self.decision}**", "", self.reason, "", "| field | value |", "|---|---|"]
        rows = {
            "metric": self.metric,
            "rule": self.rule,
            "n (holdout rows)": self.n,
            "alpha": self.alpha,
            "challenger": f"{self.challenger_value:.4f}",
            "champion": "none (first model)" if self.champion_value is None else f"{self.champion_value:.4f}",
        }
        if self.comparison:
            c = self.comparison
            rows.update(
                {
                    "test": c["test"],
                    "effect (challenger - champion)": f"{c['effect']:.4f}",
                    "CI of effect": f"[{c['ci_low']:.4f}, {c['ci_high']:.4f}]",
                    "p-value (one-sided)": f"{c['p_value']:.3g}",
                    "minimum detectable effect": f"{c['mde']:.4f}",
                    "rows needed for min_effect": c.get("required_n"),
                }
            )
        if self.ci_low is not None:
            rows["CI of metric"] = f"[{self.ci_low:.4f}, {self.ci_high:.4f}]"
        rows.update(self.context)
        lines += [f"| {key} | {value} |" for key, value in rows.items()]
        return "\n".join(lines + _check_tables(self)) + "\n"


def _count(statuses) -> str:
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def _number(value, spec: str = ".4f") -> str:
    return "" if value is None else format(value, spec)


def _table(title: str, header: list[str], rows: list[list]) -> list[str]:
    return [
        "",
        f"## {title}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ]


def _check_tables(decision: GateDecision) -> list[str]:
    lines: list[str] = []
    if len(decision.metrics) > 1:
        lines += _table(
            "Metrics (Holm-adjusted across metrics)",
            ["metric", "challenger", "champion", "effect", "p", "adjusted p", "verdict"],
            [
                [
                    r["metric"],
                    _number(r["challenger_value"]),
                    _number(r["champion_value"]),
                    _number(r["effect"], "+.4f"),
                    _number(r["p_value"], ".3g"),
                    _number(r["p_adjusted"], ".3g"),
                    r["verdict"],
                ]
                for r in decision.metrics
            ],
        )
    if decision.slices:
        lines += _table(
            "Slices (non-inferiority, Holm-adjusted across slices)",
            ["slice", "selector", "rows", "status", "effect", "adjusted p", "reason"],
            [
                [
                    r["name"],
                    r["selector"],
                    r["rows"],
                    r["status"],
                    _number(r.get("effect"), "+.4f"),
                    _number(r.get("p_adjusted"), ".3g"),
                    r["reason"],
                ]
                for r in decision.slices
            ],
        )
    if decision.baseline:
        b = decision.baseline
        lines += _table(
            f"Baseline guard ({b['family']}, same window and holdout)",
            ["metric", "challenger", "baseline", "effect (baseline - challenger)", "CI", "one-sided p", "verdict"],
            [
                [
                    b["metric"],
                    _number(b["challenger_value"]),
                    _number(b["baseline_value"]),
                    _number(b["effect"], "+.4f"),
                    f"[{_number(b['ci_low'])}, {_number(b['ci_high'])}]",
                    _number(b["p_value"], ".3g"),
                    "challenger significantly worse: blocks" if b["challenger_worse"] else "not worse",
                ]
            ],
        )
    if decision.behaviour:
        lines += _table(
            "Behavioural tests (challenger)",
            ["kind", "test", "result", "detail"],
            [[r["kind"], r["name"], "pass" if r["passed"] else "FAIL", r["detail"]] for r in decision.behaviour],
        )
    return lines


def _first_model(policy: GatePolicy, y: np.ndarray, challenger: np.ndarray, context: dict) -> GateDecision:
    """No champion: the metric's whole confidence interval must be on the good side of the floor."""
    from ml.stats import metric_confidence_interval
    from ml.stats.catalog import LOSS_METRICS

    value, low, high = metric_confidence_interval(
        policy.metric, y, challenger, alpha=policy.alpha, threshold=policy.threshold
    )
    if policy.metric in LOSS_METRICS:  # lower is better: the floor is a ceiling for the upper bound
        passed = high < policy.floor
        reason = (
            f"first model: {policy.metric} {value:.4f}, upper confidence bound {high:.4f} "
            f"{'is below' if passed else 'is not below'} the ceiling {policy.floor}"
        )
    else:
        passed = low > policy.floor
        reason = (
            f"first model: {policy.metric} {value:.4f}, lower confidence bound {low:.4f} "
            f"{'clears' if passed else 'does not clear'} the floor {policy.floor}"
        )
    return GateDecision(
        "promote" if passed else "reject",
        reason,
        policy.metric,
        policy.rule,
        len(y),
        policy.alpha,
        True,
        float(value),
        ci_low=float(low),
        ci_high=float(high),
        context=context,
    )


def _rows_needed(comparison) -> str:
    if comparison.required_n is None:
        return "set gate.min_effect > 0 to size the holdout"
    return f"about {comparison.required_n} rows needed"


def _verdict(policy: GatePolicy, comparison) -> tuple[str, str]:
    """promote if significant; inconclusive if not, yet underpowered while a worthwhile effect is still
    plausible (the CI reaches it); reject otherwise."""
    significant = comparison.p_value < policy.alpha
    superiority = policy.rule == "superiority"
    claim = "better than the champion" if superiority else f"not worse than margin {policy.margin}"
    if significant and superiority and comparison.effect < policy.min_promoted_effect:
        return "reject", (
            f"challenger is significantly better (p={comparison.p_value:.3g}) but only by "
            f"{comparison.effect:+.4f}, less than gate.min_promoted_effect {policy.min_promoted_effect}"
            ": not worth a release. The champion stays."
        )
    if significant:
        return "promote", (
            f"challenger is {claim}: effect {comparison.effect:+.4f}, one-sided p="
            f"{comparison.p_value:.3g} < alpha {policy.alpha}"
        )
    # mde is measured from the null boundary (0, or -margin for non-inferiority)
    target = policy.min_effect if superiority else policy.min_effect + policy.margin
    worthwhile = policy.min_effect if superiority else -policy.margin
    if comparison.mde > target and comparison.ci_high >= worthwhile:
        return "inconclusive", (
            f"not significant (p={comparison.p_value:.3g}) and underpowered: the holdout can "
            f"detect {comparison.mde:.4f}, not {target}; {_rows_needed(comparison)}. "
            "The champion stays."
        )
    return "reject", (
        f"challenger not shown {claim}: effect {comparison.effect:+.4f} (CI up to "
        f"{comparison.ci_high:+.4f}), p={comparison.p_value:.3g} >= alpha {policy.alpha}. "
        "The champion stays."
    )


def _compared(
    policy: GatePolicy, y: np.ndarray, challenger: np.ndarray, champion: np.ndarray, context: dict
) -> GateDecision:
    """Champion and challenger on every gate metric, Holm-adjusted; the worst metric verdict wins."""
    from ml.gate.checks import compare_metrics

    pairs = compare_metrics(policy, y, champion, challenger)
    table, verdicts = [], []
    for comparison, adjusted in pairs:
        decision, reason = _verdict(policy, replace(comparison, p_value=adjusted))
        verdicts.append((decision, reason if len(pairs) == 1 else f"{comparison.metric}: {reason}"))
        table.append({**comparison.to_dict(), "p_adjusted": float(adjusted), "verdict": decision})
    decision = max((d for d, _ in verdicts), key=_SEVERITY.__getitem__)
    reason = " ".join(r for d, r in verdicts if d == decision)
    primary = pairs[0][0]
    return GateDecision(
        decision,
        reason,
        policy.metric,
        policy.rule,
        primary.n,
        policy.alpha,
        False,
        float(primary.challenger_value),
        float(primary.champion_value),
        primary.to_dict(),
        context=context,
        metrics=table,
    )


def baseline_comparison(
    policy: GatePolicy, y: np.ndarray, challenger: np.ndarray, baseline: np.ndarray, family: str
) -> dict:
    """Is the challenger significantly worse than the baseline? (one-sided paired test, primary metric)."""
    from ml.stats import compare_paired

    # The challenger plays the "champion" of the paired test: H0 is "the baseline is not better".
    c = compare_paired(policy.metric, y, challenger, baseline, alpha=policy.alpha, threshold=policy.threshold)
    return {
        "family": family,
        "metric": c.metric,
        "test": c.test,
        "challenger_value": float(c.champion_value),
        "baseline_value": float(c.challenger_value),
        "effect": float(c.effect),
        "ci_low": float(c.ci_low),
        "ci_high": float(c.ci_high),
        "p_value": float(c.p_value),
        "challenger_worse": bool(c.p_value < policy.alpha),
    }


def _with_checks(
    decision: GateDecision, slices: list[dict], behaviour: list[dict], baseline: dict | None = None
) -> GateDecision:
    """Attach the slice, behaviour and baseline tables; a failure among them turns promote into reject."""
    decision = replace(decision, slices=slices, behaviour=behaviour, baseline=baseline)
    blocking = decision.blocking_checks
    if not blocking:
        return decision
    if baseline and baseline["challenger_worse"]:
        return replace(
            decision,
            decision="reject",
            reason=(
                f"the challenger is significantly worse than the {baseline['family']} baseline trained on the same "
                f"window: {baseline['metric']} {baseline['challenger_value']:.4f} vs {baseline['baseline_value']:.4f} "
                f"on the same holdout (one-sided p={baseline['p_value']:.3g} < alpha {decision.alpha}); check the "
                "model family and its settings (README, 'Choosing a model family'). "
                f"Other checks: {', '.join(blocking)}. Before the checks: {decision.reason}"
            ),
        )
    if decision.decision == "promote":
        return replace(
            decision,
            decision="reject",
            reason=f"blocked by failed checks: {', '.join(blocking)}. Before the checks: {decision.reason}",
        )
    return replace(decision, reason=f"{decision.reason} Failed checks too: {', '.join(blocking)}.")


def evaluate_gate(
    policy: GatePolicy,
    y: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray | None,
    context: dict | None = None,
    *,
    holdout: pd.DataFrame | None = None,
    predict: Predict | None = None,
    slices: tuple[SliceSpec, ...] | list[SliceSpec] = (),
    timestamp: str | None = None,
    baseline: tuple[str, np.ndarray] | None = None,
) -> GateDecision:
    """Decide on one challenger. ``champion`` is None when there is no champion yet.

    ``holdout`` (the frame ``y`` and the scores come from, same row order) enables the ``slices`` (months
    are read from the ``timestamp`` column) and, with the challenger's ``predict``, the behavioural tests
    of ``policy.behaviour``. Without them the gate judges the metrics only. ``baseline`` is (family, scores)
    of the baseline guard's model on the same holdout rows.
    """
    from ml.gate.checks import compare_slices, run_behaviour

    context = dict(context or {})
    if champion is None:
        decision = _first_model(policy, y, challenger, context)
        slice_rows: list[dict] = []  # nothing to be non-inferior to
    else:
        decision = _compared(policy, y, challenger, champion, context)
        slice_rows = (
            compare_slices(policy, holdout, y, champion, challenger, slices, timestamp)
            if holdout is not None and slices
            else []
        )
    behaviour = (
        run_behaviour(predict, holdout, policy.behaviour, policy.threshold)
        if holdout is not None and predict is not None
        else []
    )
    guard = baseline_comparison(policy, y, challenger, baseline[1], baseline[0]) if baseline is not None else None
    return _with_checks(decision, slice_rows, behaviour, guard)
