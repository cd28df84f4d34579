"""Feature encoding derived from the contract: clipped, standardised numbers and one-hot categories.

The encoder is fitted on the training part of the window and stored in the model's ``spec.json``; encoding
itself is :func:`ml.serving.ct_scoring.encode`, the code that travels with the model, so training and serving
cannot encode differently.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from ml.contract import Contract
from ml.serving.ct_scoring import FeatureError, encode, encoded_width, input_columns

__all__ = ["FeatureError", "encode", "encoded_width", "feature_code_hash", "feature_names", "fit_encoder"]

SERVING = Path(__file__).resolve().parents[1] / "serving"


def fit_encoder(frame: pd.DataFrame, contract: Contract, clip_quantile: float = 0.0, clip_margin: float = 0.0) -> dict:
    """Learn clipping bounds and scaling from ``frame``; categories come from the contract's domains, never from
    the data. With ``clip_quantile`` q > 0 each numeric feature is clipped to its [q, 1 - q] quantiles widened by
    ``clip_margin`` times their distance on each side, and mean and standard deviation are those of the clipped
    values (README, "Choosing a model family": the measurement behind the defaults)."""
    numeric = []
    for name in contract.numeric_features:
        values = frame[name].to_numpy(dtype="float64")
        spec = {"name": name}
        if clip_quantile > 0:
            low, high = np.quantile(values, [clip_quantile, 1 - clip_quantile])
            low, high = low - clip_margin * (high - low), high + clip_margin * (high - low)
            spec.update(low=float(low), high=float(high))
            values = np.clip(values, low, high)
        std = float(values.std())
        spec.update(mean=float(values.mean()), std=std if std > 1e-12 else 1.0)
        numeric.append(spec)
    categorical = [
        {"name": f.name, "values": [str(v) for v in f.domain or ()]} for f in contract.features if not f.is_numeric
    ]
    return {"numeric": numeric, "categorical": categorical}


def feature_names(encoder: dict) -> list[str]:
    return input_columns({"encoder": encoder})


def feature_code_hash() -> str:
    """Hash of the code that turns rows into scores (it travels with every model): part of every release bundle."""
    digest = hashlib.sha256()
    for module in ("ct_scoring.py", "ct_pyfunc.py"):
        digest.update((SERVING / module).read_bytes())
    return digest.hexdigest()[:16]
