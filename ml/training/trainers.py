"""One entry point for every model family: the contract's ``training.model.family`` picks the trainer.

| family | trainer | device |
|---|---|---|
| ``mlp``, ``linear`` | :func:`ml.training.train.train_model` (torch) | the GPU when there is one |
| ``hist_gbt`` | scikit-learn HistGradientBoosting (:mod:`ml.training.sklearn_families`) | CPU |
| ``logistic``, ``ridge`` | scikit-learn linear models, the baseline guard's family | CPU |
| ``python://module:function`` | a team's own trainer (:mod:`ml.training.custom`) | as the trainer decides |

Every trainer returns a :class:`ml.training.train.TrainingResult` whose ``model`` scores raw contract rows and
saves itself into a folder that :func:`ml.serving.ct_scoring.load_scorer` reads back.
"""

from __future__ import annotations

import pandas as pd

from ml.contract import Contract, CustomModelSpec, GradientBoostingSpec, LinearBaselineSpec
from ml.serving.ct_scoring import TORCH_FAMILIES
from ml.training.train import TrainingResult, train_model


def train_family(
    frame: pd.DataFrame, contract: Contract, *, seed: int | None = None, warm_start=None
) -> TrainingResult:
    """Train the contract's model family on ``frame`` (time-ordered rows of the training window)."""
    spec = contract.training.model
    seed = contract.training.seed if seed is None else seed
    if isinstance(spec, GradientBoostingSpec | LinearBaselineSpec):
        from ml.training.sklearn_families import train_sklearn

        return train_sklearn(frame, contract, seed=seed)
    if isinstance(spec, CustomModelSpec):
        from ml.training.custom import train_custom

        return train_custom(frame, contract, seed=seed)
    return train_model(frame, contract, seed=seed, warm_start=warm_start)


def uses_torch(contract: Contract) -> bool:
    """Torch families fine-tune from the champion (``training.warm_start``) and compare weights in reproduce."""
    return contract.training.model.family in TORCH_FAMILIES
