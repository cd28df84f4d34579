"""A heavy-tailed ratio that appears only in the newest rows cannot wreck the torch MLP any more.

The failure reported on a real stream: hourly rows, a ratio feature reaching ~100 sd, time-ordered so the
validation fold differs from the training part; validation loss rose from epoch 1, early stopping kept the net
after one epoch, and the model lost to logistic regression on its out-of-time holdout. Generated here: seven
Gaussian features drifting in time, and ``ratio = num / den`` whose recorded denominator, from 60 % of the
stream on, more and more often collapses towards zero (a recording artefact: the label follows the true
ratio), so its newest values lie tens to hundreds of training-part standard deviations out. Measured over 10
seeds (README, "Choosing a model family"): standardising alone 0.23 below logistic regression on average, the
default clipping 0.014 (at most 0.026).

Asserted over 3 seeds: with the defaults (clip_quantile 0.005, clip_margin 0.25, min_epochs 5) every seed is
within 0.03 of logistic regression; with clipping and min_epochs off (the code before the fix) every seed is at
least 0.1 below it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.contract import parse_contract
from ml.stats.metrics import auc_value
from ml.training.train import train_model

FEATURES = [f"x{i}" for i in range(1, 8)] + ["ratio"]
SEEDS = (0, 1, 2)


def ratio_stream(seed: int, n: int = 12_000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n)
    x = rng.normal(size=(n, 7)) + t[:, None] * np.array([1, -1, 0.5, 0, 0.7, -0.5, 0.3])
    num, den = np.exp(rng.normal(0, 0.15, n)), np.exp(rng.normal(0, 0.15, n))
    collapsed = rng.random(n) < 0.6 * np.clip(t - 0.6, 0, None) / 0.4
    depth = np.exp(np.log(30.0) + (np.log(300.0) - np.log(30.0)) * t)
    recorded = den.copy()
    recorded[collapsed] = den[collapsed] / (depth[collapsed] * np.exp(rng.normal(0, 0.7, collapsed.sum())))
    logit = x @ (1.4 * np.array([1.0, -0.8, 0.6, 0.5, -0.5, 0.4, 0.3])) + 2.0 * np.tanh(np.log(num / den))
    frame = pd.DataFrame(x, columns=FEATURES[:7]).assign(ratio=num / recorded)
    frame.insert(0, "timestamp", pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta("1h") * np.arange(n))
    frame["target"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def _contract(**model):
    return parse_contract(
        {
            "name": "ratio_stream",
            "source": {
                "uri": "python://tests.ml.training.test_heavy_tails:ratio_stream",
                "format": "generated",
                "timestamp": {"column": "timestamp"},
            },
            "timestamp": "timestamp",
            "target": "target",
            "task": "binary_classification",
            "target_domain": [0, 1],
            "features": [{"name": f, "type": "float"} for f in FEATURES],
            "batch": {"period": "D"},
            "freshness": {"max_age": "2h"},
            "training": {"device": "cpu", "model": {"family": "mlp", **model}},
        }
    )


def _split(seed: int):
    frame = ratio_stream(seed)
    cut = int(round(len(frame) * 0.7))  # the newest 30 %: the out-of-time holdout
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


def _logistic_auc(train: pd.DataFrame, holdout: pd.DataFrame) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train[FEATURES])
    model = LogisticRegression(max_iter=2000).fit(scaler.transform(train[FEATURES]), train["target"])
    return auc_value(holdout["target"].to_numpy(), model.predict_proba(scaler.transform(holdout[FEATURES]))[:, 1])


@pytest.fixture(scope="module")
def gaps() -> dict[str, list[float]]:
    """Holdout AUC of logistic regression minus the MLP's, per seed, with today's defaults and without the fix."""
    import torch

    torch.set_num_threads(1)
    robust = _contract()
    before = parse_contract(
        {
            **robust.model_dump(mode="json", exclude_none=True),
            "training": {
                **robust.training.model_dump(mode="json", exclude_none=True),
                "min_epochs": 1,
                "model": {"family": "mlp", "clip_quantile": 0.0},
            },
        }
    )
    out: dict[str, list[float]] = {"defaults": [], "before": []}
    for seed in SEEDS:
        train, holdout = _split(seed)
        baseline = _logistic_auc(train, holdout)
        for name, contract in (("defaults", robust), ("before", before)):
            scores = train_model(train, contract, seed=seed).model.predict(holdout)
            out[name].append(baseline - auc_value(holdout["target"].to_numpy(), scores))
    return out


def test_defaults_keep_the_mlp_within_0_03_auc_of_logistic_regression(gaps):
    assert max(gaps["defaults"]) < 0.03, gaps


def test_without_clipping_and_min_epochs_the_mlp_loses_to_logistic_regression(gaps):
    assert min(gaps["before"]) > 0.1, gaps  # the failure this guards against is real on this data
