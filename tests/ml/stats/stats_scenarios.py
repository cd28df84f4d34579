"""Seeded data-generating processes for the gate's statistical tests, with exact population metrics.

Classification: a latent logit z ~ N(0, SPREAD^2), y ~ Bernoulli(sigmoid(z)); a model with noise sigma
scores sigmoid(z + sigma * eps). Regression: y = f + e with f, e ~ N(0, 1); a model with noise sigma
predicts f + sigma * eps. Two models with the same sigma are equally good (exchangeable on every row);
less noise is better on every metric. Population values are computed by Gauss-Hermite quadrature (or in
closed form), so a simulation's true effect is known without Monte Carlo error.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit, log_expit
from scipy.stats import norm

SPREAD = 1.5
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(120)
_WEIGHTS = _WEIGHTS / math.sqrt(2.0 * math.pi)


def classification(n: int, rng: np.random.Generator, sigmas: tuple[float, ...]) -> tuple[np.ndarray, ...]:
    """(y, scores for each sigma), all scored on the same rows."""
    z = SPREAD * rng.standard_normal(n)
    y = (rng.random(n) < expit(z)).astype(float)
    return (y, *(expit(z + sigma * rng.standard_normal(n)) for sigma in sigmas))


def regression(n: int, rng: np.random.Generator, sigmas: tuple[float, ...]) -> tuple[np.ndarray, ...]:
    """(y, predictions for each sigma), all on the same rows."""
    signal = rng.standard_normal(n)
    y = signal + rng.standard_normal(n)
    return (y, *(signal + sigma * rng.standard_normal(n) for sigma in sigmas))


def simulate(metric: str, n: int, rng: np.random.Generator, sigmas: tuple[float, ...]) -> tuple[np.ndarray, ...]:
    generate = regression if metric in ("mae", "rmse") else classification
    return generate(n, rng, sigmas)


def population_value(metric: str, sigma: float) -> float:
    """The metric of a model with noise `sigma` on the whole population (threshold 0.5 for accuracy)."""
    if metric in ("mae", "rmse"):
        rmse = math.sqrt(1.0 + sigma**2)
        return rmse if metric == "rmse" else math.sqrt(2.0 / math.pi) * rmse
    z = SPREAD * _NODES
    p = expit(z)
    if metric == "accuracy":
        return float(np.sum(_WEIGHTS * (p * norm.cdf(z / sigma) + (1.0 - p) * norm.sf(z / sigma))))
    weights = np.outer(_WEIGHTS, _WEIGHTS)
    if metric == "auc":
        prevalence = float(np.sum(_WEIGHTS * p))
        beats = norm.cdf((z[:, None] - z[None, :]) / (sigma * math.sqrt(2.0)))
        return float(np.sum(weights * np.outer(p, 1.0 - p) * beats) / (prevalence * (1.0 - prevalence)))
    logit = z[:, None] + sigma * _NODES[None, :]
    if metric == "log_loss":
        loss = -(p[:, None] * log_expit(logit) + (1.0 - p[:, None]) * log_expit(-logit))
    else:  # brier
        q = expit(logit)
        loss = p[:, None] * (1.0 - q) ** 2 + (1.0 - p[:, None]) * q**2
    return float(np.sum(weights * loss))


def true_effect(metric: str, champion_sigma: float, challenger_sigma: float) -> float:
    """Population effect, positive when the challenger is better (losses: champion minus challenger)."""
    champion, challenger = population_value(metric, champion_sigma), population_value(metric, challenger_sigma)
    return challenger - champion if metric in ("auc", "accuracy") else champion - challenger
