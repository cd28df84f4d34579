"""Feature encoding derived from the contract: standardised numbers and one-hot categories.

The encoder is fitted on the training window and stored as a small JSON spec next to the weights, so a
saved model scores new rows without the training code (and without refitting anything).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from ml.contract import Contract


class FeatureError(ValueError):
    """Rows cannot be encoded: missing columns or values that slipped past validation."""


def fit_encoder(frame: pd.DataFrame, contract: Contract) -> dict:
    """Learn scaling from ``frame``; categories come from the contract's domains, never from the data."""
    numeric = []
    for name in contract.numeric_features:
        values = frame[name].astype("float64")
        std = float(values.std(ddof=0))
        numeric.append({"name": name, "mean": float(values.mean()), "std": std if std > 1e-12 else 1.0})
    categorical = [
        {"name": f.name, "values": [str(v) for v in f.domain or ()]} for f in contract.features if not f.is_numeric
    ]
    return {"numeric": numeric, "categorical": categorical}


def encoded_width(encoder: dict) -> int:
    return len(encoder["numeric"]) + sum(len(c["values"]) for c in encoder["categorical"])


def encode(frame: pd.DataFrame, encoder: dict) -> np.ndarray:
    """Rows as a float32 matrix; raises :class:`FeatureError` on missing columns or NaN/inf values."""
    columns = []
    for spec in encoder["numeric"]:
        if spec["name"] not in frame.columns:
            raise FeatureError(f"column {spec['name']!r} is missing; the model needs {feature_names(encoder)}")
        values = frame[spec["name"]].to_numpy(dtype="float64")
        if not np.isfinite(values).all():
            raise FeatureError(f"column {spec['name']!r} holds NaN or infinite values; validate the batch first")
        columns.append(((values - spec["mean"]) / spec["std"])[:, None])
    for spec in encoder["categorical"]:
        values = frame[spec["name"]].astype(str).to_numpy()
        columns.append(np.stack([values == v for v in spec["values"]], axis=1).astype("float64"))
    if not columns:
        raise FeatureError("the encoder has no features")
    return np.concatenate(columns, axis=1).astype(np.float32)


def feature_names(encoder: dict) -> list[str]:
    return [s["name"] for s in encoder["numeric"]] + [s["name"] for s in encoder["categorical"]]


def feature_code_hash() -> str:
    """Hash of the code that turns rows into model inputs and scores: part of every release bundle."""
    digest = hashlib.sha256()
    for module in ("features.py", "model.py"):
        digest.update((Path(__file__).parent / module).read_bytes())
    return digest.hexdigest()[:16]
