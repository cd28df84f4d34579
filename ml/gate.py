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

``min_effect`` sizes the holdout (power); it is not a threshold on the promoted effect: any significant
improvement promotes (see bench/results/gate.md for what that means for seed-to-seed differences).

With no champion, the first model is promoted when the lower confidence bound of its metric clears the
contract's ``floor``. Ties keep the champion. The verdict is a value, not an exception (TFX style).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np

from ml.contract import GatePolicy


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

    @property
    def decision_id(self) -> str:
        payload = json.dumps({k: v for k, v in asdict(self).items()}, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        return {"decision_id": self.decision_id, **asdict(self)}

    def summary_tags(self) -> dict[str, str]:
        tags = {"gate.decision": self.decision, "gate.decision_id": self.decision_id, "gate.metric": self.metric,
                "gate.rule": self.rule, "gate.n": str(self.n), "gate.challenger_value": f"{self.challenger_value:.4f}"}
        if self.comparison:
            tags.update({"gate.effect": f"{self.comparison['effect']:.4f}",
                         "gate.p_value": f"{self.comparison['p_value']:.3g}",
                         "gate.mde": f"{self.comparison['mde']:.4f}"})
        return tags

    def markdown(self) -> str:
        lines = [f"# Gate decision: **{self.decision}**", "", self.reason, "",
                 "| field | value |", "|---|---|"]
        rows = {"metric": self.metric, "rule": self.rule, "n (holdout rows)": self.n, "alpha": self.alpha,
                "challenger": f"{self.challenger_value:.4f}",
                "champion": "none (first model)" if self.champion_value is None else f"{self.champion_value:.4f}"}
        if self.comparison:
            c = self.comparison
            rows.update({"test": c["test"], "effect (challenger - champion)": f"{c['effect']:.4f}",
                         "CI of effect": f"[{c['ci_low']:.4f}, {c['ci_high']:.4f}]",
                         "p-value (one-sided)": f"{c['p_value']:.3g}",
                         "minimum detectable effect": f"{c['mde']:.4f}", "rows needed for min_effect":
                         c.get("required_n")})
        if self.ci_low is not None:
            rows["CI of metric"] = f"[{self.ci_low:.4f}, {self.ci_high:.4f}]"
        rows.update(self.context)
        lines += [f"| {key} | {value} |" for key, value in rows.items()]
        return "\n".join(lines) + "\n"


def _first_model(policy: GatePolicy, y: np.ndarray, challenger: np.ndarray, context: dict) -> GateDecision:
    """No champion: the metric's whole confidence interval must be on the good side of the floor."""
    from ml.stats import metric_confidence_interval
    from ml.stats.catalog import LOSS_METRICS

    value, low, high = metric_confidence_interval(policy.metric, y, challenger, alpha=policy.alpha,
                                                  threshold=policy.threshold)
    if policy.metric in LOSS_METRICS:  # lower is better: the floor is a ceiling for the upper bound
        passed = high < policy.floor
        reason = (f"first model: {policy.metric} {value:.4f}, upper confidence bound {high:.4f} "
                  f"{'is below' if passed else 'is not below'} the ceiling {policy.floor}")
    else:
        passed = low > policy.floor
        reason = (f"first model: {policy.metric} {value:.4f}, lower confidence bound {low:.4f} "
                  f"{'clears' if passed else 'does not clear'} the floor {policy.floor}")
    return GateDecision("promote" if passed else "reject", reason, policy.metric, policy.rule, len(y),
                        policy.alpha, True, float(value), ci_low=float(low), ci_high=float(high), context=context)


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
    if significant:
        return "promote", (f"challenger is {claim}: effect {comparison.effect:+.4f}, one-sided p="
                           f"{comparison.p_value:.3g} < alpha {policy.alpha}")
    # mde is measured from the null boundary (0, or -margin for non-inferiority)
    target = policy.min_effect if superiority else policy.min_effect + policy.margin
    worthwhile = policy.min_effect if superiority else -policy.margin
    if comparison.mde > target and comparison.ci_high >= worthwhile:
        return "inconclusive", (f"not significant (p={comparison.p_value:.3g}) and underpowered: the holdout can "
                                f"detect {comparison.mde:.4f}, not {target}; {_rows_needed(comparison)}. "
                                "The champion stays.")
    return "reject", (f"challenger not shown {claim}: effect {comparison.effect:+.4f} (CI up to "
                      f"{comparison.ci_high:+.4f}), p={comparison.p_value:.3g} >= alpha {policy.alpha}. "
                      "The champion stays.")


def evaluate_gate(policy: GatePolicy, y: np.ndarray, challenger: np.ndarray, champion: np.ndarray | None,
                  context: dict | None = None) -> GateDecision:
    """Decide on one challenger. ``champion`` is None when there is no champion yet."""
    from ml.stats import compare_paired

    context = dict(context or {})
    if champion is None:
        return _first_model(policy, y, challenger, context)
    comparison = compare_paired(policy.metric, y, champion, challenger, rule=policy.rule, alpha=policy.alpha,
                                min_effect=policy.min_effect, margin=policy.margin, power=policy.power,
                                threshold=policy.threshold)
    decision, reason = _verdict(policy, comparison)
    return GateDecision(decision, reason, policy.metric, policy.rule, comparison.n, policy.alpha, False,
                        float(comparison.challenger_value), float(comparison.champion_value),
                        comparison.to_dict(), context=context)
