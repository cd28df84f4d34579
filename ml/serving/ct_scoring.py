"""Scoring a contract's raw columns with a trained model: the code that travels with every model version.

Every model version is an MLflow pyfunc model logged as code (``ct_pyfunc.py``), with this file beside it
(``code_paths``) and the model's files as its artifact. The pyfunc imports this file from the model's own copy,
so a model scores with exactly the feature code it was trained with, in the platform, in a notebook, or behind
``mlflow models serve``. The platform imports the same file as ``ml.serving.ct_scoring`` when it trains and
checks at registration that a fresh process scores the holdout to the same numbers. For that reason this file
imports nothing from ``ml/``: only numpy and pandas, and torch or skops when a model of that family is loaded.

A model folder holds ``spec.json``: the task, the family, the feature encoder and the input columns, plus the
family's own files (torch: ``state_dict.pt``; scikit-learn: ``estimator.skops``; a team's trainer: whatever its
scorer's ``save`` writes, loaded by the ``loader`` it names).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

SPEC_FILE = "spec.json"
TORCH_WEIGHTS = "state_dict.pt"
SKOPS_FILE = "estimator.skops"
TORCH_FAMILIES = ("mlp", "linear")
SKLEARN_FAMILIES = ("hist_gbt", "logistic", "ridge")
CUSTOM = "python"


class ServingInputError(ValueError):
    """The rows to score do not have the model's columns (missing, extra, or values of the wrong type)."""


class FeatureError(ServingInputError):
    """Rows cannot be encoded: missing columns or values that slipped past validation."""


# --------------------------------------------------------------------------------------------------------------
# Inputs


def input_columns(spec: dict) -> list[str]:
    """The raw columns a model takes, in order: numeric features, then categorical ones."""
    encoder = spec["encoder"]
    return [s["name"] for s in encoder["numeric"]] + [s["name"] for s in encoder["categorical"]]


def check_columns(frame: pd.DataFrame, spec: dict, *, allow_extra: bool = False) -> None:
    """Raise :class:`ServingInputError` naming every missing (and, unless allowed, extra) column."""
    expected = input_columns(spec)
    missing = [c for c in expected if c not in frame.columns]
    extra = [] if allow_extra else [c for c in frame.columns if c not in expected]
    if missing or extra:
        parts = [f"missing columns {missing}" if missing else "", f"unexpected columns {extra}" if extra else ""]
        raise ServingInputError(f"{'; '.join(p for p in parts if p)}: the model takes exactly {expected}")
    numeric = [s["name"] for s in spec["encoder"]["numeric"]]
    mistyped = [c for c in numeric if not _numbers(frame[c])]
    if mistyped:
        raise ServingInputError(f"columns {mistyped} must hold numbers; send them as JSON numbers, not text")


def _numbers(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return False
    if pd.api.types.is_numeric_dtype(series):
        return True
    return bool(pd.to_numeric(series, errors="coerce").notna().eq(series.notna()).all())


def encode(frame: pd.DataFrame, encoder: dict) -> np.ndarray:
    """Rows as a float32 matrix: numeric values clipped to the training bounds (when the encoder has them) and
    standardised, categories one-hot over the contract's domain. Raises :class:`FeatureError` on a missing
    column or a NaN/infinite value."""
    columns = []
    for spec in encoder["numeric"]:
        if spec["name"] not in frame.columns:
            raise FeatureError(f"column {spec['name']!r} is missing; the model needs {_names(encoder)}")
        values = pd.to_numeric(frame[spec["name"]], errors="coerce").to_numpy(dtype="float64")
        if not np.isfinite(values).all():
            raise FeatureError(f"column {spec['name']!r} holds NaN or infinite values; validate the batch first")
        if "low" in spec:  # encoders written before clipping existed have no bounds
            values = np.clip(values, spec["low"], spec["high"])
        columns.append(((values - spec["mean"]) / spec["std"])[:, None])
    for spec in encoder["categorical"]:
        if spec["name"] not in frame.columns:
            raise FeatureError(f"column {spec['name']!r} is missing; the model needs {_names(encoder)}")
        values = frame[spec["name"]].astype(str).to_numpy()
        columns.append(np.stack([values == v for v in spec["values"]], axis=1).astype("float64"))
    if not columns:
        raise FeatureError("the encoder has no features")
    return np.concatenate(columns, axis=1).astype(np.float32)


def encoded_width(encoder: dict) -> int:
    return len(encoder["numeric"]) + sum(len(c["values"]) for c in encoder["categorical"])


def _names(encoder: dict) -> list[str]:
    return [s["name"] for s in encoder["numeric"]] + [s["name"] for s in encoder["categorical"]]


# --------------------------------------------------------------------------------------------------------------
# Scorers: predict(frame) -> scores (probability of the positive class, or the regression value)


def build_network(architecture: dict):
    """``architecture``: {family: mlp|linear, inputs, hidden: [..], dropout}. Output: one logit."""
    import torch.nn as nn

    layers: list = []
    width = architecture["inputs"]
    if architecture["family"] == "mlp":
        for hidden in architecture["hidden"]:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            if architecture.get("dropout", 0) > 0:
                layers.append(nn.Dropout(architecture["dropout"]))
            width = hidden
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class TorchScorer:
    """A torch network (``mlp`` or ``linear``) over the encoded rows."""

    def __init__(self, spec: dict, network) -> None:
        self.spec = spec
        self.network = network

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        import torch

        inputs = torch.from_numpy(encode(frame, self.spec["encoder"]))
        self.network.eval()
        with torch.no_grad():
            outputs = self.network(inputs).squeeze(1).double()
        if self.spec["task"] == "binary_classification":
            outputs = torch.sigmoid(outputs)
        return outputs.numpy()

    def save(self, folder: Path) -> None:
        import torch

        _write_spec(folder, self.spec)
        torch.save(self.network.state_dict(), folder / TORCH_WEIGHTS)

    @classmethod
    def load(cls, folder: Path) -> TorchScorer:
        import torch

        spec = read_spec(folder)
        network = build_network(spec["architecture"])
        network.load_state_dict(torch.load(folder / TORCH_WEIGHTS, map_location="cpu", weights_only=True))
        network.eval()
        return cls(spec, network)


class SklearnScorer:
    """A scikit-learn estimator over the encoded rows, stored with skops (no pickle)."""

    def __init__(self, spec: dict, estimator) -> None:
        self.spec = spec
        self.estimator = estimator

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        inputs = encode(frame, self.spec["encoder"])
        if self.spec["task"] == "binary_classification":
            return self.estimator.predict_proba(inputs)[:, 1].astype("float64")
        return self.estimator.predict(inputs).astype("float64")

    def save(self, folder: Path) -> None:
        import skops.io

        _write_spec(folder, self.spec)
        skops.io.dump(self.estimator, folder / SKOPS_FILE)

    @classmethod
    def load(cls, folder: Path) -> SklearnScorer:
        import skops.io

        path = folder / SKOPS_FILE
        # Only the estimator's own scikit-learn types are accepted; anything else in the file is refused.
        trusted = [t for t in skops.io.get_untrusted_types(file=path) if t.startswith("sklearn.")]
        return cls(read_spec(folder), skops.io.load(path, trusted=trusted))


class CustomScorer:
    """A model from a team's own trainer (``python://``), with the spec the platform writes beside its files.

    The model's class (``spec["loader"]``, ``module:Class``) reads its own files back with ``Class.load(folder)``;
    its module travels with the model version."""

    def __init__(self, spec: dict, model) -> None:
        self.spec = spec
        self.model = model

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(frame), dtype="float64")

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(folder)
        _write_spec(folder, self.spec)  # after the model's own files: the platform's spec wins

    @classmethod
    def load(cls, folder: Path) -> CustomScorer:
        spec = read_spec(folder)
        module, _, name = spec["loader"].partition(":")
        model_class = importlib.import_module(module)
        for part in name.split("."):
            model_class = getattr(model_class, part)
        return cls(spec, model_class.load(folder))


def _write_spec(folder: Path, spec: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SPEC_FILE).write_text(json.dumps(spec, indent=2, sort_keys=True))


def read_spec(folder: Path) -> dict:
    return json.loads((Path(folder) / SPEC_FILE).read_text())


def load_scorer(folder: Path):
    """The scorer saved in ``folder``, whatever its family."""
    folder = Path(folder)
    spec = read_spec(folder)
    family = spec.get("family", spec.get("architecture", {}).get("family"))
    if family in TORCH_FAMILIES:
        return TorchScorer.load(folder)
    if family in SKLEARN_FAMILIES:
        return SklearnScorer.load(folder)
    if family == CUSTOM:
        return CustomScorer.load(folder)
    raise ValueError(f"{folder} holds a model of unknown family {family!r}")


def score(scorer, frame: pd.DataFrame) -> np.ndarray:
    """Scores of ``frame``'s rows as float64, checked: one finite score per row."""
    scores = np.asarray(scorer.predict(frame), dtype="float64").reshape(-1)
    if scores.shape != (len(frame),) or not np.isfinite(scores).all():
        raise ValueError(f"the model returned {scores.shape[0]} scores for {len(frame)} rows, or non-finite ones")
    return scores
