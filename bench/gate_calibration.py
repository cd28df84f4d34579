"""Benchmark: how often the champion/challenger gate promotes, against a naive point comparison.

    .venv/bin/python bench/gate_calibration.py      # writes bench/results/gate.md (~5 min on 2 cores)

1. Simulated scores with a known true effect: false-promotion rate (equal models), power, the share of
   "inconclusive" verdicts and the mean minimum detectable effect (MDE), per holdout size and true effect,
   for ``ml.gate.decision.evaluate_gate`` (superiority, alpha 0.05; AUC by DeLong, accuracy by exact McNemar) and for
   the naive gate "promote iff the challenger's metric is higher".
2. Ten retrains of equally good models: the chance of at least one false promotion, from the measured
   per-gate rates and by direct simulation.
3. The real weather data: models trained on the same window with different seeds (or bootstrap
   resamples of the rows) are equally good in expectation; all ordered pairs are gated on the real
   out-of-time holdout.

Simulation model (binormal, equal variance): a row is positive with probability PREVALENCE; a model's latent
score is ``s = mu * y + e`` with ``e ~ N(0, 1)``, and the champion's and challenger's noises have correlation
``rho``. Its AUC is exactly ``Phi(mu / sqrt(2))``. Scores are turned into calibrated probabilities
``P(y=1 | s) = expit(logit(PREVALENCE) + mu * s - mu^2 / 2)`` (monotone, so the AUC is unchanged), and at the
threshold 0.5 its accuracy is exactly ``PREVALENCE * Phi(mu - t) + (1 - PREVALENCE) * Phi(t)`` with
``t = mu / 2 - logit(PREVALENCE) / mu``. The true effect is set by choosing the challenger's ``mu``; both
formulas are checked against 2,000,000-row samples in the report.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import permutations
from pathlib import Path

import numpy as np
from machine_info import describe_machine  # bench/ is on sys.path when a benchmark runs as a script
from scipy.optimize import brentq
from scipy.special import expit, logit
from scipy.stats import norm

from ml.contract import GatePolicy, load_contract
from ml.gate.decision import evaluate_gate

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "gate.md"
CONTRACT = REPO / "include" / "contracts" / "weather.yaml"
COMMAND = ".venv/bin/python bench/gate_calibration.py"

SEED = 20_240_601
SIMULATIONS = 1000  # per cell
SIZES = (250, 1000, 4000, 16_000)
EFFECTS = (0.0, 0.01, 0.02, 0.05)  # true challenger - champion, in the metric's own units
BASE_AUC = 0.85  # close to the weather model's holdout AUC (~0.87)
PREVALENCE = 0.3  # the weather data's share of rainy days (~0.31)
RHO = 0.9  # correlation of the two models' score noise
RHO_SENSITIVITY = (0.5, 0.9, 0.98)
RETRAINS = 10
SEQUENCES = 1000  # direct simulation of RETRAINS gates each
SEQUENCE_N = 1000
TRUTH_ROWS = 2_000_000
# The contract gates AUC with min_effect 0.02; for accuracy, one point is the effect we ask the gate to see.
POLICIES = {
    "auc": GatePolicy(metric="auc", rule="superiority", alpha=0.05, min_effect=0.02, power=0.8),
    "accuracy": GatePolicy(metric="accuracy", rule="superiority", alpha=0.05, min_effect=0.01, power=0.8),
}

TRAIN_WINDOW = ("1961-01-01", "1977-01-01")
HOLDOUT_WINDOW = ("1977-01-01", "1981-11-09")  # stops at the documented drift onset (row 12,000)
SEED_MODELS = 20
BOOTSTRAP_MODELS = 10
PLACEBO_DRAWS = 10  # random swaps per unordered pair of real models


# ---------------------------------------------------------------- the binormal model and its exact metrics
def auc_of(mu: float) -> float:
    return float(norm.cdf(mu / math.sqrt(2.0)))


def mu_for_auc(auc: float) -> float:
    return float(math.sqrt(2.0) * norm.ppf(auc))


def accuracy_of(mu: float, prevalence: float = PREVALENCE) -> float:
    """Accuracy at threshold 0.5 of the calibrated probability, i.e. of the Bayes rule for this mu."""
    t = mu / 2.0 - float(logit(prevalence)) / mu
    return float(prevalence * norm.cdf(mu - t) + (1.0 - prevalence) * norm.cdf(t))


def mu_for_accuracy(accuracy: float) -> float:
    return float(brentq(lambda mu: accuracy_of(mu) - accuracy, 1e-3, 20.0, xtol=1e-12))


@dataclass(frozen=True)
class Scenario:
    """Champion and challenger separations (mu) and the correlation of their noise."""

    mu_champion: float
    mu_challenger: float
    rho: float = RHO

    @classmethod
    def for_effect(cls, metric: str, effect: float, rho: float = RHO) -> Scenario:
        base = mu_for_auc(BASE_AUC)
        if effect == 0.0:
            return cls(base, base, rho)
        if metric == "auc":
            return cls(base, mu_for_auc(BASE_AUC + effect), rho)
        return cls(base, mu_for_accuracy(accuracy_of(base) + effect), rho)

    def true_values(self, metric: str) -> tuple[float, float]:
        value = auc_of if metric == "auc" else accuracy_of
        return value(self.mu_champion), value(self.mu_challenger)

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(y, champion probabilities, challenger probabilities) for n rows."""
        y = (rng.random(n) < PREVALENCE).astype(float)
        shared, own_a, own_b = rng.standard_normal((3, n))
        scale = math.sqrt(1.0 - self.rho)
        noise_a = math.sqrt(self.rho) * shared + scale * own_a
        noise_b = math.sqrt(self.rho) * shared + scale * own_b
        return y, _probability(self.mu_champion, y, noise_a), _probability(self.mu_challenger, y, noise_b)


def _probability(mu: float, y: np.ndarray, noise: np.ndarray) -> np.ndarray:
    s = mu * y + noise
    return expit(float(logit(PREVALENCE)) + mu * s - mu * mu / 2.0)


def _rng(*tags: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([SEED, *tags]))


# ---------------------------------------------------------------- tallying gate verdicts
@dataclass
class Tally:
    """Verdicts of the naive and our gate over many comparisons."""

    trials: int = 0
    naive: int = 0
    ties: int = 0
    promote: int = 0
    inconclusive: int = 0
    mde: list[float] = field(default_factory=list)
    disagreement: list[float] = field(default_factory=list)

    def add(self, decision, disagreement: float = math.nan) -> None:
        self.trials += 1
        self.naive += decision.challenger_value > decision.champion_value
        self.ties += decision.challenger_value == decision.champion_value
        self.promote += decision.decision == "promote"
        self.inconclusive += decision.decision == "inconclusive"
        self.mde.append(decision.comparison["mde"])
        self.disagreement.append(disagreement)

    def rate(self, attribute: str) -> tuple[float, float]:
        p = getattr(self, attribute) / self.trials
        return p, math.sqrt(p * (1.0 - p) / self.trials)


def fmt_rate(rate: tuple[float, float]) -> str:
    return f"{rate[0]:.3f} ± {rate[1]:.3f}"


def run_cell(metric: str, scenario: Scenario, n: int, simulations: int, rng: np.random.Generator) -> Tally:
    tally = Tally()
    for _ in range(simulations):
        y, champion, challenger = scenario.draw(n, rng)
        decision = evaluate_gate(POLICIES[metric], y, challenger, champion)
        disagreement = float(np.mean((champion >= 0.5) != (challenger >= 0.5)))
        tally.add(decision, disagreement)
    return tally


# ---------------------------------------------------------------- section 1: simulated scores
def truth_check() -> list[str]:
    """Analytic true values against one 2,000,000-row paired sample per scenario."""
    from ml.stats import metric_value

    lines = [
        "| metric | set effect | true champion | true challenger | true difference (analytic) | "
        f"difference on {TRUTH_ROWS:,} rows |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m_index, metric in enumerate(POLICIES):
        for e_index, effect in enumerate(EFFECTS):
            scenario = Scenario.for_effect(metric, effect)
            a, b = scenario.true_values(metric)
            y, champion, challenger = scenario.draw(TRUTH_ROWS, _rng(9, m_index, e_index))
            sampled = metric_value(metric, y, challenger) - metric_value(metric, y, champion)
            lines.append(f"| {metric} | {effect:.2f} | {a:.4f} | {b:.4f} | {b - a:+.4f} | {sampled:+.4f} |")
    return lines


def power_table(metric: str, m_index: int) -> tuple[list[str], dict[int, Tally]]:
    unit = "AUC" if metric == "auc" else "accuracy"
    policy = POLICIES[metric]
    extra = " | mean disagreement" if metric == "accuracy" else ""
    lines = [
        f"| n | true effect ({unit}) | naive promotes | our gate promotes | our gate inconclusive | mean MDE{extra} |",
        "|---:|---:|---:|---:|---:|---:|" + ("---:|" if extra else ""),
    ]
    nulls = {}
    for n_index, n in enumerate(SIZES):
        for e_index, effect in enumerate(EFFECTS):
            rng = _rng(1, m_index, n_index, e_index)
            tally = run_cell(metric, Scenario.for_effect(metric, effect), n, SIMULATIONS, rng)
            if effect == 0.0:
                nulls[n] = tally
            cells = [
                f"{n:,}",
                f"{effect:.2f}",
                fmt_rate(tally.rate("naive")),
                fmt_rate(tally.rate("promote")),
                fmt_rate(tally.rate("inconclusive")),
                f"{np.mean(tally.mde):.4f}",
            ]
            if extra:
                cells.append(f"{np.mean(tally.disagreement):.3f}")
            lines.append("| " + " | ".join(cells) + " |")
    title = (
        f"### {metric}: {'DeLong' if metric == 'auc' else 'exact McNemar'}, min_effect {policy.min_effect}, "
        f"power {policy.power}"
    )
    return [title, ""] + lines, nulls


def rho_table() -> list[str]:
    n = SEQUENCE_N
    lines = [
        f"n = {n:,}; {SIMULATIONS} simulations per cell.",
        "",
        "| metric | rho | true effect | naive promotes | our gate promotes | inconclusive | mean MDE |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m_index, metric in enumerate(POLICIES):
        for r_index, rho in enumerate(RHO_SENSITIVITY):
            for effect in (0.0, 0.02):
                scenario = Scenario.for_effect(metric, effect, rho)
                tally = run_cell(metric, scenario, n, SIMULATIONS, _rng(3, m_index, r_index, int(effect * 100)))
                lines.append(
                    f"| {metric} | {rho} | {effect:.2f} | {fmt_rate(tally.rate('naive'))} | "
                    f"{fmt_rate(tally.rate('promote'))} | {fmt_rate(tally.rate('inconclusive'))} | "
                    f"{np.mean(tally.mde):.4f} |"
                )
    return lines


# ---------------------------------------------------------------- section 2: ten retrains
def any_of(p: float, se: float, k: int = RETRAINS) -> str:
    """P(at least one of k independent gates promotes) and its delta-method standard error."""
    return f"{1.0 - (1.0 - p) ** k:.3f} ± {k * (1.0 - p) ** (k - 1) * se:.3f}"


def retrain_sequences(metric: str, m_index: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Direct simulation: SEQUENCES runs of RETRAINS gates of equal models, each on a fresh holdout."""
    rng = _rng(2, m_index)
    scenario = Scenario.for_effect(metric, 0.0)
    naive_hits = ours_hits = 0
    for _ in range(SEQUENCES):
        naive = ours = False
        for _ in range(RETRAINS):
            y, champion, challenger = scenario.draw(SEQUENCE_N, rng)
            decision = evaluate_gate(POLICIES[metric], y, challenger, champion)
            naive |= decision.challenger_value > decision.champion_value
            ours |= decision.decision == "promote"
        naive_hits += naive
        ours_hits += ours
    return tuple(
        (h / SEQUENCES, math.sqrt(h / SEQUENCES * (1 - h / SEQUENCES) / SEQUENCES)) for h in (naive_hits, ours_hits)
    )


def retrain_table(nulls: dict[str, dict[int, Tally]]) -> list[str]:
    lines = [
        f"| metric | n | naive, per gate | naive, >= 1 of {RETRAINS} (from rate) | ours, per gate | "
        f"ours, >= 1 of {RETRAINS} (from rate) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for metric, by_n in nulls.items():
        for n, tally in by_n.items():
            naive, ours = tally.rate("naive"), tally.rate("promote")
            lines.append(
                f"| {metric} | {n:,} | {fmt_rate(naive)} | {any_of(*naive)} | {fmt_rate(ours)} | {any_of(*ours)} |"
            )
    lines += [
        "",
        f"Direct simulation: {SEQUENCES} sequences of {RETRAINS} gates, n = {SEQUENCE_N:,}, rho = {RHO}, "
        "each gate on a fresh holdout.",
        "",
        f"| metric | naive, >= 1 of {RETRAINS} | ours, >= 1 of {RETRAINS} |",
        "|---|---:|---:|",
    ]
    for m_index, metric in enumerate(POLICIES):
        naive, ours = retrain_sequences(metric, m_index)
        lines.append(f"| {metric} | {fmt_rate(naive)} | {fmt_rate(ours)} |")
    return lines


# ---------------------------------------------------------------- section 3: the real weather holdout
@dataclass
class WeatherModels:
    """The real training window and holdout, and each family's holdout scores (one array per model)."""

    train: object  # pandas frames; pandas is imported only inside functions
    holdout: object
    contract: object
    families: dict[str, list[np.ndarray]]
    seconds: float


def weather_models() -> WeatherModels:
    import torch

    from ml.simulation.sources import load_source
    from ml.training.train import train_model

    # A small MLP on 2 shared cores: one thread trains a model in ~2 s, two threads took ~9 s here.
    torch.set_num_threads(1)
    contract = load_contract(CONTRACT)
    contract = contract.model_copy(update={"training": contract.training.model_copy(update={"device": "cpu"})})
    frame = load_source(contract)
    date = frame[contract.timestamp]
    train = frame[(date >= TRAIN_WINDOW[0]) & (date < TRAIN_WINDOW[1])]
    holdout = frame[(date >= HOLDOUT_WINDOW[0]) & (date < HOLDOUT_WINDOW[1])]
    started = time.perf_counter()
    families: dict[str, list[np.ndarray]] = {"seed": [], "bootstrap": []}
    for seed in range(SEED_MODELS):
        families["seed"].append(train_model(train, contract, seed=seed).model.predict(holdout))
    for k in range(BOOTSTRAP_MODELS):
        rows = np.sort(_rng(4, k).integers(0, len(train), len(train)))  # sorted: keeps time order for validation
        resampled = train.iloc[rows].reset_index(drop=True)
        families["bootstrap"].append(train_model(resampled, contract, seed=1000 + k).model.predict(holdout))
    return WeatherModels(train, holdout, contract, families, time.perf_counter() - started)


def half_replication(y: np.ndarray, scores: list[np.ndarray]) -> tuple[float, float]:
    """Correlation, over unordered pairs, of the AUC difference on the holdout's first and second half
    (and the share of pairs whose sign agrees). Near 0 / 0.5 if the pairs differ only by holdout noise;
    clearly positive if seeds give models that truly differ on this population."""
    from ml.stats import metric_value

    half = len(y) // 2
    parts = [(y[:half], [s[:half] for s in scores]), (y[half:], [s[half:] for s in scores])]
    aucs = np.array([[metric_value("auc", part_y, s) for s in part_scores] for part_y, part_scores in parts])
    i, j = np.triu_indices(len(scores), 1)
    first, second = aucs[0, i] - aucs[0, j], aucs[1, i] - aucs[1, j]
    return float(np.corrcoef(first, second)[0, 1]), float(np.mean(np.sign(first) == np.sign(second)))


def placebo_rows(
    family: str, scores: list[np.ndarray], y: np.ndarray, months: np.ndarray, contract, rng: np.random.Generator
) -> list[str]:
    """Gate exchangeable pairs made by swapping two real models' scores on random months or rows."""
    _, block = np.unique(months, return_inverse=True)
    tallies = {(unit, metric): Tally() for unit in ("month", "row") for metric in POLICIES}
    for i, j in zip(*np.triu_indices(len(scores), 1), strict=True):
        a, b = scores[i], scores[j]
        for _ in range(PLACEBO_DRAWS):
            flips = {"month": (rng.random(block.max() + 1) < 0.5)[block], "row": rng.random(len(y)) < 0.5}
            for unit, flip in flips.items():
                champion, challenger = np.where(flip, b, a), np.where(flip, a, b)
                for metric, policy in POLICIES.items():
                    policy = contract.gate if metric == "auc" else policy
                    tallies[unit, metric].add(evaluate_gate(policy, y, challenger, champion))
    return [
        f"| {family} | {unit} | {metric} | {t.trials} | {fmt_rate(t.rate('naive'))} | "
        f"{fmt_rate(t.rate('promote'))} | {fmt_rate(t.rate('inconclusive'))} | {np.mean(t.mde):.4f} |"
        for (unit, metric), t in tallies.items()
    ]


def _family_rows(family: str, scores: list[np.ndarray], y: np.ndarray, contract) -> list[str]:
    from ml.stats import metric_value

    rows = []
    correlation = np.corrcoef(np.vstack(scores))[np.triu_indices(len(scores), 1)].mean()
    # The contract's AUC gate, and the same gate without its practical threshold (min_promoted_effect 0).
    variants = [
        ("auc", contract.gate),
        ("auc, min_promoted_effect 0", contract.gate.model_copy(update={"min_promoted_effect": 0.0})),
        ("accuracy", POLICIES["accuracy"]),
    ]
    for label, policy in variants:
        metric = policy.metric
        tally, winners, effects = Tally(), set(), []
        for i, j in permutations(range(len(scores)), 2):
            decision = evaluate_gate(policy, y, scores[i], scores[j])
            tally.add(decision)
            effects.append(abs(decision.comparison["effect"]))
            if decision.decision == "promote":
                winners.add(i)
        values = [metric_value(metric, y, s) for s in scores]
        rows.append(
            f"| {family} | {label} | {len(scores)} | {tally.trials} | {min(values):.4f} / "
            f"{np.mean(values):.4f} / {max(values):.4f} | {correlation:.3f} | {np.mean(effects):.4f} | "
            f"{tally.naive / tally.trials:.3f} | {tally.promote / tally.trials:.3f} ({tally.promote}) | "
            f"{tally.inconclusive / tally.trials:.3f} | {np.mean(tally.mde):.4f} | {len(winners)} | "
            f"{1.0 - (1.0 - tally.promote / tally.trials) ** RETRAINS:.3f} |"
        )
    return rows


def weather_table() -> list[str]:
    models = weather_models()
    contract, train, holdout = models.contract, models.train, models.holdout
    y = holdout[contract.target].to_numpy(dtype=float)
    lines = [
        f"Training window {TRAIN_WINDOW[0]} .. {TRAIN_WINDOW[1]} (exclusive), {len(train):,} rows; holdout "
        f"{HOLDOUT_WINDOW[0]} .. {HOLDOUT_WINDOW[1]} (exclusive, ends at the documented drift onset), "
        f"{len(holdout):,} rows, {y.mean():.3f} rainy. Platform MLP from `include/contracts/weather.yaml` "
        f"(hidden {list(contract.training.model.hidden)}, early stopping on the newest 20 % of the window), "
        f"CPU, one torch thread. {SEED_MODELS + BOOTSTRAP_MODELS} models trained in {models.seconds:.0f} s "
        "(the cost is bounded by the number of models; gating all pairs takes a few seconds).",
        "",
        f"- **seed**: the same rows, seeds 0..{SEED_MODELS - 1}.",
        "- **bootstrap**: rows resampled with replacement (kept in time order), a different seed each.",
        "",
        "Every ordered pair (challenger, champion) of one family is gated on the same holdout: the AUC gate "
        f"is the contract's (`gate:` min_effect {contract.gate.min_effect}, min_promoted_effect "
        f"{contract.gate.min_promoted_effect}; also shown without that threshold), the accuracy gate min_effect "
        f"{POLICIES['accuracy'].min_effect}.",
        "",
        "| family | metric | models | ordered pairs | holdout metric: min / mean / max | mean score correlation "
        "| mean abs effect | naive promotes | our gate promotes (pairs) | inconclusive | mean MDE "
        f"| distinct challengers promoted | ours: >= 1 promotion in {RETRAINS} gates at this rate |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    replication, placebo = [], []
    months = (holdout[contract.timestamp].dt.year * 12 + holdout[contract.timestamp].dt.month).to_numpy()
    z_alpha = float(norm.ppf(1.0 - contract.gate.alpha))
    for f_index, (family, scores) in enumerate(models.families.items()):
        lines += _family_rows(family, scores, y, contract)
        corr, agree = half_replication(y, scores)
        # True pairwise differences with variance tau^2 plus holdout noise sigma^2 (2 sigma^2 in each half):
        # corr = tau^2 / (tau^2 + 2 sigma^2), and a calibrated gate promotes at sf(z / sqrt(1 + tau^2 / sigma^2)).
        implied = norm.sf(z_alpha / math.sqrt(1.0 + 2.0 * max(corr, 0.0) / (1.0 - corr)))
        replication.append(f"| {family} | {corr:+.2f} | {agree:.2f} | {implied:.3f} |")
        placebo += placebo_rows(family, scores, y, months, contract, _rng(5, f_index))
    lines += [
        "",
        "Do the pairwise AUC differences replicate between the holdout's first and second half "
        "(unordered pairs)? Pure holdout noise would give a correlation near 0 and sign agreement near 0.5. "
        "The last column is the AUC promotion rate a calibrated gate would show if the differences were "
        "normal with the variance this correlation implies (rough: the correlation is itself noisy).",
        "",
        "| family | correlation of pairwise AUC differences, half 1 vs half 2 | sign agreement "
        "| implied promotion rate |",
        "|---|---:|---:|---:|",
    ] + replication
    lines += [
        "",
        "### Placebo: exactly equal challengers on the real holdout",
        "",
        f"For each unordered pair (A, B) of one family, {PLACEBO_DRAWS} times: swap A's and B's scores on a "
        "random half of the calendar months (or of the rows), giving A' and B' that are exchangeable, so "
        "their true difference is exactly 0 while keeping the real data's rows, labels and day-to-day "
        "dependence (month blocks). B' is gated as the challenger against A'. Rates ± binomial SE over "
        "comparisons (pairs share models, so the SE is somewhat optimistic).",
        "",
        "| family | swap unit | metric | comparisons | naive promotes | our gate promotes | inconclusive | mean MDE |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ] + placebo
    return lines


# ---------------------------------------------------------------- report
def simulation_section() -> tuple[list[str], dict[str, dict[int, Tally]]]:
    base = Scenario.for_effect("auc", 0.0)
    lines = [
        "## 1. Simulated scores",
        "",
        f"Binormal scores (see the module docstring): prevalence {PREVALENCE}, champion AUC {BASE_AUC} "
        f"(mu = {base.mu_champion:.4f}; its accuracy at threshold 0.5 is {accuracy_of(base.mu_champion):.4f}), "
        f"noise correlation rho = {RHO} between the two models. The true difference is exact (analytic "
        f"formulas) and was checked on one {TRUTH_ROWS:,}-row paired sample per scenario:",
        "",
    ]
    lines += truth_check()
    lines += [
        "",
        f"{SIMULATIONS} seeded simulations per cell; each rate is shown ± its binomial standard error "
        "sqrt(p(1-p)/simulations). Naive gate: promote iff the challenger's holdout metric is strictly "
        "higher (ties keep the champion). Our gate: `evaluate_gate` with the policy named above each "
        "table; the effect-0 rows are its false-promotion rate, the others its power. Inconclusive: our "
        "gate did not promote and called the holdout underpowered for min_effect (its other non-promotions "
        "are rejects). MDE is `comparison['mde']`, the effect the holdout detects with 80 % power at "
        "alpha 0.05 (one-sided), averaged over simulations.",
        "",
    ]
    nulls: dict[str, dict[int, Tally]] = {}
    for m_index, metric in enumerate(POLICIES):
        table, nulls[metric] = power_table(metric, m_index)
        lines += table + [""]
    lines += ["### Sensitivity to the correlation of the two models' scores", ""] + rho_table() + [""]
    return lines, nulls


def main() -> None:
    started = time.perf_counter()
    sim_lines, nulls = simulation_section()
    lines = [
        "# Gate calibration: false promotions and power, naive vs `ml.gate.decision.evaluate_gate`",
        "",
        f"Produced by `{COMMAND}` (from the repository root) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {describe_machine()}.",
        "",
    ]
    lines += sim_lines
    lines += [
        "## 2. Ten retrains of equally good models",
        "",
        f"P(at least one false promotion in {RETRAINS} gates) = 1 - (1 - p)^{RETRAINS}, from the effect-0 "
        "rates above (± delta-method SE), assuming independent holdouts:",
        "",
    ]
    lines += retrain_table(nulls) + [""]
    lines += ["## 3. Real weather holdout: equally good challengers", ""] + weather_table()
    lines += [
        "",
        "Pairs share one holdout and each model appears in many pairs, so they are not independent "
        "trials: the rates above are descriptive, with far less information than the pair count suggests. "
        "Seeds make models equal only in expectation: on the holdout's population each pair still differs "
        "by a small true amount, which a valid gate may (correctly) detect as a difference: with superiority, "
        "`min_effect` only separates inconclusive from reject, so without `min_promoted_effect` any "
        "significant improvement is promoted, however small. The placebo rows separate the two causes: "
        "they are exactly equal by construction.",
        "",
        f"Total run time: {time.perf_counter() - started:.0f} s.",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
