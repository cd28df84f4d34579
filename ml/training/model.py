"""The tabular network and a scorer that loads from a state dict plus a small JSON spec.

Saved models are ``spec.json`` (architecture and feature encoder) and ``state_dict.pt`` (weights): they
load for scoring with plain torch, without the training code's classes and without MLflow's ``pt2``
export (which needs an input example and loads back as a GraphModule, see FIELD_NOTES).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml.training.features import encode

SPEC_FILE = "spec.json"
WEIGHTS_FILE = "state_dict.pt"


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


@dataclass
class ScoringModel:
    """A trained model ready to score rows: probabilities of the positive class (or regression values)."""

    spec: dict
    network: object  # torch.nn.Module; typed loosely so this module imports without torch

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

        folder.mkdir(parents=True, exist_ok=True)
        (folder / SPEC_FILE).write_text(json.dumps(self.spec, indent=2, sort_keys=True))
        torch.save(self.network.state_dict(), folder / WEIGHTS_FILE)

    @classmethod
    def load(cls, folder: Path) -> ScoringModel:
        import torch

        spec = json.loads((folder / SPEC_FILE).read_text())
        network = build_network(spec["architecture"])
        network.load_state_dict(torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True))
        network.eval()
        return cls(spec, network)
