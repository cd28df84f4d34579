"""A team trainer whose model scores differently in every Python process: what training-serving skew looks like.

Its scores shift by a few 1e-12 depending on the process's string-hash seed (Python randomises it per process):
the same rows get other scores once the model is loaded anywhere else. The parity check at registration must
catch it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class SkewedModel:
    def __init__(self, mean: float) -> None:
        self.mean = mean

    def predict(self, frame):
        skew = (hash("ct-skew") % 997) * 1e-12  # differs between processes
        return np.full(len(frame), self.mean + skew)

    def save(self, folder) -> None:
        (Path(folder) / "mean.json").write_text(json.dumps(self.mean))

    @classmethod
    def load(cls, folder):
        return cls(json.loads((Path(folder) / "mean.json").read_text()))


def train(train, validation, contract, seed, device):
    return SkewedModel(float(train[contract.target].mean()))
