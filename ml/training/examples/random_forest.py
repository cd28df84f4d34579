"""An example of a team's own trainer: a scikit-learn random forest, saved with skops (no pickle).

Use it from a contract with ``training.model: {family: "python://ml.training.examples.random_forest:train",
options: {n_estimators: 200}}``. It follows the protocol in :mod:`ml.training.custom`: ``train`` gets the
training and validation rows, the contract, a seed and a device, and returns a model whose ``predict`` scores
raw contract rows, whose ``save`` writes its files and whose class ``load``s them back. This module imports
nothing else from the platform, since it travels with every model version it trains (MLflow ``code_paths``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

ESTIMATOR_FILE, COLUMNS_FILE = "forest.skops", "forest_columns.json"


def _matrix(frame: pd.DataFrame, numeric: list[str], categories: dict[str, list[str]]) -> np.ndarray:
    """Numbers as they are, categories one-hot over the contract's domain (trees need no scaling)."""
    columns = [frame[numeric].to_numpy(dtype="float64")]
    for name, values in categories.items():
        text = frame[name].astype(str).to_numpy()
        columns.append(np.stack([text == v for v in values], axis=1).astype("float64"))
    return np.concatenate(columns, axis=1)


class ForestModel:
    def __init__(self, estimator, numeric: list[str], categories: dict[str, list[str]], classifier: bool) -> None:
        self.estimator, self.numeric, self.categories, self.classifier = estimator, numeric, categories, classifier

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        x = _matrix(frame, self.numeric, self.categories)
        return self.estimator.predict_proba(x)[:, 1] if self.classifier else self.estimator.predict(x)

    def save(self, folder: Path) -> None:
        import skops.io

        skops.io.dump(self.estimator, Path(folder) / ESTIMATOR_FILE)
        columns = {"numeric": self.numeric, "categories": self.categories, "classifier": self.classifier}
        (Path(folder) / COLUMNS_FILE).write_text(json.dumps(columns))

    @classmethod
    def load(cls, folder: Path) -> ForestModel:
        import skops.io

        path = Path(folder) / ESTIMATOR_FILE
        trusted = [t for t in skops.io.get_untrusted_types(file=path) if t.startswith("sklearn.")]
        columns = json.loads((Path(folder) / COLUMNS_FILE).read_text())
        return cls(
            skops.io.load(path, trusted=trusted), columns["numeric"], columns["categories"], columns["classifier"]
        )


def train(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    contract,
    seed: int,
    device: str,
    *,
    n_estimators: int = 200,
    min_samples_leaf: int = 5,
):
    """Fit on training and validation rows together (a forest needs no early stopping); report the validation
    score of a forest fitted on the training rows alone as a metric."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    classifier = contract.task == "binary_classification"
    numeric = list(contract.numeric_features)
    categories = {f.name: [str(v) for v in f.domain or ()] for f in contract.features if not f.is_numeric}
    cls = RandomForestClassifier if classifier else RandomForestRegressor
    settings = {"n_estimators": n_estimators, "min_samples_leaf": min_samples_leaf, "random_state": seed, "n_jobs": 1}
    probe = cls(**settings).fit(_matrix(train, numeric, categories), train[contract.target])
    validation_score = float(probe.score(_matrix(validation, numeric, categories), validation[contract.target]))
    rows = pd.concat([train, validation])
    model = ForestModel(
        cls(**settings).fit(_matrix(rows, numeric, categories), rows[contract.target]), numeric, categories, classifier
    )
    return model, {
        "params": {"n_estimators": n_estimators, "min_samples_leaf": min_samples_leaf},
        "metrics": {"validation_score": validation_score},
    }
