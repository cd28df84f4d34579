"""The trained model as the platform holds it in memory: a scorer from the code that travels with the model.

``ScoringModel`` is the torch scorer (``mlp``/``linear``) of :mod:`ml.serving.ct_scoring`; the other families'
scorers live there too. A saved model folder is ``spec.json`` plus the family's files; MLflow logs it as the
``model`` artifact of a pyfunc model (:mod:`ml.registry.runs`).
"""

from __future__ import annotations

from ml.serving.ct_scoring import (
    SPEC_FILE,
    TORCH_WEIGHTS,
    SklearnScorer,
    TorchScorer,
    build_network,
    load_scorer,
)

__all__ = ["SPEC_FILE", "WEIGHTS_FILE", "ScoringModel", "SklearnScorer", "build_network", "load_scorer"]

WEIGHTS_FILE = TORCH_WEIGHTS
ScoringModel = TorchScorer
