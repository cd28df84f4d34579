"""A team's own trainer: ``training.model.family: python://module:function``.

The protocol (README, "Bring your own trainer"):

    def train(train: pd.DataFrame, validation: pd.DataFrame, contract: Contract, seed: int, device: str,
              **options) -> model  |  (model, {"params": {...}, "metrics": {...}})

- ``train`` and ``validation`` are raw contract rows, time-ordered; validation is the newest
  ``training.validation_fraction`` of the window (out-of-time). ``device`` is ``cuda`` or ``cpu``;
  ``options`` are the contract's ``training.model.options``.
- The model scores raw frames: ``model.predict(frame)`` returns one finite float per row (the probability of
  the positive class, or the regression value); ``frame`` holds at least the contract's feature columns.
- ``model.save(folder)`` writes its files into ``folder`` (no pickle needed: any format the class reads back),
  and the model's class has a ``load(folder)`` classmethod that returns an equal model. The module that defines
  the class travels with the model version (MLflow ``code_paths``), so it is importable wherever it is served.
- The optional dict is logged to the training run: ``params`` as MLflow params, ``metrics`` as metrics.

A trainer that raises, returns something without ``predict``/``save``/``load``, or whose model returns
non-finite or wrongly shaped scores ends the retrain with a :class:`TrainerError` naming the trainer and the
rule it broke; nothing is registered.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import time

import numpy as np
import pandas as pd

from ml.contract import Contract, CustomModelSpec
from ml.serving.ct_scoring import CUSTOM, CustomScorer
from ml.training.train import TrainingError, TrainingResult, check_window, select_device, split_validation

logger = logging.getLogger(__name__)

PROTOCOL = "see the README, 'Bring your own trainer'"


class TrainerError(TrainingError):
    """A team's trainer failed or broke the trainer protocol."""


def trainer_function(path: str):
    """The function a ``python://module:function`` path names."""
    module_name, _, name = path.removeprefix("python://").partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise TrainerError(f"trainer {path}: cannot import module {module_name!r} ({error}); {PROTOCOL}") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise TrainerError(f"trainer {path}: module {module_name!r} has no function {name!r}; {PROTOCOL}")
    return function


def _check_protocol(path: str, model) -> None:
    missing = [attr for attr in ("predict", "save") if not callable(getattr(model, attr, None))]
    load = getattr(type(model), "load", None)
    if not callable(load):
        missing.append("a load(folder) classmethod on its class")
    if missing:
        raise TrainerError(f"trainer {path} returned {type(model).__name__}, which lacks {missing}; {PROTOCOL}")
    if inspect.getmodule(type(model)) is None or type(model).__module__ == "__main__":
        raise TrainerError(f"trainer {path}: the model's class must live in an importable module; {PROTOCOL}")


def check_scores(path: str, model, frame: pd.DataFrame) -> np.ndarray:
    """The model's scores of ``frame``, or a :class:`TrainerError` naming the broken rule."""
    try:
        scores = np.asarray(model.predict(frame), dtype="float64")
    except Exception as error:
        raise TrainerError(f"trainer {path}: the model's predict raised {type(error).__name__}: {error}") from None
    if scores.shape != (len(frame),):
        raise TrainerError(
            f"trainer {path}: the model returned scores of shape {scores.shape} for {len(frame)} rows; predict "
            f"must return one score per row; {PROTOCOL}"
        )
    if not np.isfinite(scores).all():
        bad = int((~np.isfinite(scores)).sum())
        raise TrainerError(f"trainer {path}: the model returned {bad} non-finite scores (NaN or inf); {PROTOCOL}")
    return scores


def _input_spec(contract: Contract) -> dict:
    """The input columns a custom model declares (names only: the model encodes its inputs itself)."""
    return {
        "numeric": [{"name": name} for name in contract.numeric_features],
        "categorical": [
            {"name": f.name, "values": [str(v) for v in f.domain or ()]} for f in contract.features if not f.is_numeric
        ],
    }


def _split_output(path: str, output) -> tuple[object, dict]:
    if isinstance(output, tuple):
        if len(output) != 2 or not isinstance(output[1], dict):
            raise TrainerError(f"trainer {path} returned a tuple that is not (model, log dict); {PROTOCOL}")
        return output[0], output[1]
    return output, {}


def train_custom(frame: pd.DataFrame, contract: Contract, *, seed: int) -> TrainingResult:
    """Run the contract's ``python://`` trainer on ``frame`` and check what it returns."""
    spec: CustomModelSpec = contract.training.model
    path = spec.family
    function = trainer_function(path)
    check_window(frame, contract)
    train_part, validation = split_validation(frame, contract.training.validation_fraction)
    device, device_name, fallback = select_device(contract.training.device)
    started = time.perf_counter()
    try:
        output = function(train_part, validation, contract, seed, device, **spec.options)
    except TrainingError:
        raise
    except Exception as error:
        raise TrainerError(f"trainer {path} raised {type(error).__name__}: {error}") from error
    elapsed = time.perf_counter() - started
    model, log = _split_output(path, output)
    _check_protocol(path, model)
    check_scores(path, model, validation)
    cls = type(model)
    scorer_spec = {
        "task": contract.task,
        "target": contract.target,
        "family": CUSTOM,
        "trainer": path,
        "loader": f"{cls.__module__}:{cls.__qualname__}",
        "encoder": _input_spec(contract),
    }
    history = [{"epoch": 1, **{k: v for k, v in (log.get("metrics") or {}).items() if isinstance(v, int | float)}}]
    return TrainingResult(
        CustomScorer(scorer_spec, model),
        device,
        device_name,
        seed,
        0,
        history,
        len(frame) / elapsed if elapsed > 0 else 0.0,
        fallback,
        notes=[f"trainer {path}"] + [f"{k}={v}" for k, v in (log.get("params") or {}).items()],
        train_seconds=elapsed,
    )


def model_module(scorer) -> str | None:
    """The module that defines a custom model's class (it travels with the model), or None for our families."""
    return type(scorer.model).__module__ if isinstance(scorer, CustomScorer) else None
