"""The scikit-learn families: ``hist_gbt`` (HistGradientBoosting) and the linear baselines ``logistic``/``ridge``.

They train on the CPU on the same encoded inputs as the torch families (:mod:`ml.serving.ct_scoring`; for trees
the clipping and scaling change nothing but the bounds of the extreme bins), seeded, and are stored with skops,
not pickle. Gradient boosting stops on the same out-of-time validation fold as the torch families (the newest
``training.validation_fraction`` of the window): the number of trees is chosen there, then the model is refit
on the whole training part with that many trees.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from ml.contract import Contract, GradientBoostingSpec, LinearBaselineSpec
from ml.serving.ct_scoring import SklearnScorer, encode
from ml.training.features import fit_encoder
from ml.training.train import TrainingError, TrainingResult, check_window, split_validation

logger = logging.getLogger(__name__)


def _classifier(contract: Contract) -> bool:
    return contract.task == "binary_classification"


def baseline_spec(contract: Contract) -> LinearBaselineSpec:
    """The cheapest model for the contract's task: logistic regression, or ridge for regression."""
    return LinearBaselineSpec(family="logistic" if _classifier(contract) else "ridge")


def _linear(spec: LinearBaselineSpec, contract: Contract, seed: int):
    from sklearn.linear_model import LogisticRegression, Ridge

    if spec.family == "logistic":
        if not _classifier(contract):
            raise TrainingError("family logistic is for binary_classification; use ridge for regression")
        return LogisticRegression(C=spec.regularization, max_iter=1000, random_state=seed)
    if _classifier(contract):
        raise TrainingError("family ridge is for regression; use logistic for binary_classification")
    return Ridge(alpha=spec.regularization, random_state=seed)


def _boosting(spec: GradientBoostingSpec, contract: Contract, seed: int, max_iter: int):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if _classifier(contract) else HistGradientBoostingRegressor
    return cls(
        max_iter=max_iter,
        learning_rate=spec.learning_rate,
        max_leaf_nodes=spec.max_leaf_nodes,
        min_samples_leaf=spec.min_samples_leaf,
        l2_regularization=spec.l2_regularization,
        early_stopping=False,
        random_state=seed,
    )


def _validation_losses(model, x_val: np.ndarray, y_val: np.ndarray, classifier: bool) -> list[float]:
    """The validation loss after each boosting iteration (log loss, or squared error)."""
    losses = []
    if classifier:
        for proba in model.staged_predict_proba(x_val):
            p = np.clip(proba[:, 1], 1e-12, 1 - 1e-12)
            losses.append(float(-np.mean(y_val * np.log(p) + (1 - y_val) * np.log(1 - p))))
    else:
        losses = [float(np.mean((pred - y_val) ** 2)) for pred in model.staged_predict(x_val)]
    return losses


def _best_iterations(spec: GradientBoostingSpec, contract: Contract, seed: int, fit_x, fit_y, val_x, val_y) -> tuple:
    """(iterations, history): the iteration count with the lowest out-of-time validation loss, stopping once
    ``early_stopping_rounds`` iterations have not improved on it."""
    model = _boosting(spec, contract, seed, spec.max_iter).fit(fit_x, fit_y)
    losses = _validation_losses(model, val_x, val_y, _classifier(contract))
    best = 0
    for i, loss in enumerate(losses):
        if loss < losses[best]:
            best = i
        elif i - best >= spec.early_stopping_rounds:
            break
    history = [{"epoch": i + 1, "val_loss": loss} for i, loss in enumerate(losses)]
    return best + 1, history


def train_sklearn(frame: pd.DataFrame, contract: Contract, *, seed: int) -> TrainingResult:
    """Fit the contract's scikit-learn family on ``frame`` (time-ordered): the rows as the torch families see
    them, the out-of-time validation fold only to choose the number of trees."""
    return fit_family(frame, contract, contract.training.model, seed=seed)


def fit_family(
    frame: pd.DataFrame, contract: Contract, spec: GradientBoostingSpec | LinearBaselineSpec, *, seed: int
) -> TrainingResult:
    """Fit one scikit-learn family (``spec``) on ``frame``: the contract's model, or the baseline guard's."""
    check_window(frame, contract)
    started = time.perf_counter()
    encoder = fit_encoder(frame, contract, getattr(spec, "clip_quantile", 0.0), getattr(spec, "clip_margin", 0.0))
    x, y = encode(frame, encoder), frame[contract.target].to_numpy(dtype="float64")
    history: list[dict] = []
    best_epoch = 0
    if spec.family == "hist_gbt":
        fit_part, val_part = split_validation(frame, contract.training.validation_fraction)
        iterations, history = _best_iterations(
            spec,
            contract,
            seed,
            encode(fit_part, encoder),
            fit_part[contract.target].to_numpy(dtype="float64"),
            encode(val_part, encoder),
            val_part[contract.target].to_numpy(dtype="float64"),
        )
        best_epoch = iterations
        estimator = _boosting(spec, contract, seed, iterations).fit(x, y)
    else:
        estimator = _linear(spec, contract, seed).fit(x, y)
    elapsed = time.perf_counter() - started
    scorer = SklearnScorer(
        {"task": contract.task, "target": contract.target, "family": spec.family, "encoder": encoder}, estimator
    )
    logger.info("trained %s on %d rows in %.2f s", spec.family, len(frame), elapsed)
    return TrainingResult(
        scorer,
        "cpu",
        "cpu",
        seed,
        best_epoch,
        history,
        len(frame) / elapsed if elapsed > 0 else 0.0,
        precision="fp64",
        deterministic=True,
        train_seconds=elapsed,
    )
