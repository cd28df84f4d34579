"""Trainers that break the custom-trainer protocol (ml/training/custom.py), one way each, and one that keeps it
but learns nothing (`constant`), for the tests."""

from __future__ import annotations

import numpy as np


class _Model:
    def __init__(self, scores=None) -> None:
        self.scores = scores

    def predict(self, frame):
        return np.full(len(frame), 0.5) if self.scores is None else self.scores(frame)

    def save(self, folder) -> None:
        (folder / "nothing.txt").write_text("")

    @classmethod
    def load(cls, folder):
        return cls()


class _NoSave:
    def predict(self, frame):
        return np.zeros(len(frame))

    @classmethod
    def load(cls, folder):
        return cls()


def raises(train, validation, contract, seed, device):
    raise RuntimeError("the team's bug")


def non_finite(train, validation, contract, seed, device):
    return _Model(lambda frame: np.full(len(frame), np.nan))


def wrong_shape(train, validation, contract, seed, device):
    return _Model(lambda frame: np.zeros((len(frame), 2)))


def no_save(train, validation, contract, seed, device):
    return _NoSave()


def not_a_model(train, validation, contract, seed, device):
    return {"weights": [1, 2, 3]}


def bad_tuple(train, validation, contract, seed, device):
    return _Model(), {"params": {}}, "extra"


def constant(train, validation, contract, seed, device):
    """Follows the protocol to the letter and learns nothing: every row scores 0.5."""
    return _Model()
