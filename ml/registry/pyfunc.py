"""Every model version is an MLflow pyfunc model, logged as code (no pickled Python objects).

The version's ``model`` artifact is a complete MLflow model folder: ``MLmodel``, the entry point
``ct_pyfunc.py`` (models from code), ``code/ct_scoring.py`` (the feature and scoring code it was trained
with; a team trainer's module too), ``artifacts/model/`` (``spec.json`` and the family's weights), a signature
and an input example derived from the contract, and the pinned requirements. So
``mlflow.pyfunc.load_model("models:/ct-<contract>@champion")`` works in any process with the platform's
libraries, and ``mlflow models serve --env-manager local`` serves it.

Parity: before a version may be registered, a fresh Python process loads the logged model and scores the
holdout; the scores must equal, bit for bit, those of the training process (:func:`check_parity`).
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from ml.contract import Contract
from ml.serving import ct_scoring

logger = logging.getLogger(__name__)

SERVING = Path(ct_scoring.__file__).resolve().parent
ENTRY_POINT = SERVING / "ct_pyfunc.py"
SCORER_ARTIFACT = "model"  # the scorer's folder inside the MLflow model: artifacts/model
MLMODEL = "MLmodel"
_FRESH_PROCESS = (
    "import sys, numpy as np, pandas as pd, mlflow.pyfunc\n"
    "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
    "np.save(sys.argv[3], np.asarray(model.predict(pd.read_parquet(sys.argv[2])), dtype='float64'))\n"
)


class ParityError(RuntimeError):
    """The logged pyfunc model does not score like the model that was trained: it must not be registered."""


def model_inputs(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Exactly the columns a model takes, typed as its signature says: numbers as float64, categories as text."""
    numeric = {name: pd.to_numeric(frame[name]).astype("float64") for name in contract.numeric_features}
    categorical = {name: frame[name].astype(str) for name in contract.categorical_features}
    inputs = pd.DataFrame({**numeric, **categorical}, index=frame.index)
    return inputs[contract.numeric_features + contract.categorical_features]


def signature(contract: Contract):
    """Input: the contract's features (numeric: double, categorical: string); output: one double per row."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = [ColSpec("double", name) for name in contract.numeric_features]
    inputs += [ColSpec("string", name) for name in contract.categorical_features]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema([ColSpec("double")]))


def _requirements(scorer) -> list[str]:
    names = ["mlflow", "numpy", "pandas", "pyarrow"]
    names += ["torch"] if isinstance(scorer, ct_scoring.TorchScorer) else ["scikit-learn", "skops"]
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={metadata.version(name).split('+')[0]}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def _module_code(module_name: str, folder: Path) -> Path:
    """A copy of the module that defines a team's model class, for ``code_paths``: the module file, inside the
    packages above it (their ``__init__.py``, empty for namespace packages). The module may import installed
    libraries, not other modules of its own package (README, "Bring your own trainer")."""
    module = importlib.import_module(module_name)
    parts = module_name.split(".")
    for depth in range(1, len(parts)):
        package = importlib.import_module(".".join(parts[:depth]))
        init = folder.joinpath(*parts[:depth], "__init__.py")
        init.parent.mkdir(parents=True, exist_ok=True)
        if getattr(package, "__file__", None):
            shutil.copy2(package.__file__, init)
        else:
            init.write_text("")
    target = folder.joinpath(*parts[:-1], parts[-1] + ".py")
    shutil.copy2(module.__file__, target)
    return folder / parts[0] if len(parts) > 1 else target


def _code_paths(scorer, folder: Path) -> list[str]:
    """ct_scoring.py, plus a team trainer's module when the model is theirs."""
    from ml.training.custom import model_module

    paths = [str(SERVING / "ct_scoring.py")]
    module = model_module(scorer)
    if module is not None:
        code = folder / "code"
        code.mkdir()
        paths.append(str(_module_code(module, code)))
    return paths


def save_pyfunc(scorer, contract: Contract, path: Path, example: pd.DataFrame) -> Path:
    """Write ``scorer`` as an MLflow pyfunc model folder at ``path`` (which must not exist yet)."""
    import mlflow

    staging = Path(tempfile.mkdtemp(prefix="ct-pyfunc-"))
    try:
        scorer.save(staging / SCORER_ARTIFACT)
        mlflow.pyfunc.save_model(
            path=str(path),
            python_model=str(ENTRY_POINT),
            artifacts={SCORER_ARTIFACT: str(staging / SCORER_ARTIFACT)},
            code_paths=_code_paths(scorer, staging),
            signature=signature(contract),
            input_example=model_inputs(example, contract).head(5),
            pip_requirements=_requirements(scorer),
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def fresh_process_scores(model_folder: Path, inputs: pd.DataFrame) -> np.ndarray:
    """Scores of ``inputs`` from the pyfunc at ``model_folder``, loaded in a new Python process."""
    with tempfile.TemporaryDirectory(prefix="ct-parity-") as tmp:
        given, scored = Path(tmp) / "inputs.parquet", Path(tmp) / "scores.npy"
        inputs.to_parquet(given)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of the platform's own code
        done = subprocess.run(
            [sys.executable, "-c", _FRESH_PROCESS, str(model_folder), str(given), str(scored)],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ParityError(f"the logged model does not load and score in a fresh process: {last}")
        return np.load(scored)


@dataclass(frozen=True)
class Parity:
    rows: int
    identical: bool
    max_abs_difference: float

    def to_tags(self) -> dict[str, str]:
        return {"ct.parity": "identical" if self.identical else "differs", "ct.parity_rows": str(self.rows)}


def check_parity(model_folder: Path, frame: pd.DataFrame, contract: Contract, expected: np.ndarray) -> Parity:
    """The logged model, in a fresh process, must score ``frame`` exactly as the training process did.

    Raises :class:`ParityError` (nothing may be registered) when it does not, saying by how much.
    """
    actual = fresh_process_scores(model_folder, model_inputs(frame, contract))
    expected = np.asarray(expected, dtype="float64")
    if actual.shape != expected.shape:
        raise ParityError(f"the logged model returned {actual.shape[0]} scores for {expected.shape[0]} rows")
    difference = float(np.max(np.abs(actual - expected))) if len(actual) else 0.0
    parity = Parity(len(actual), bool(np.array_equal(actual, expected)), difference)
    if not parity.identical:
        raise ParityError(
            f"the logged model scores the {parity.rows} holdout rows differently in a fresh process than the "
            f"training process did (largest difference {difference:.3g}): the feature or scoring code that "
            "travels with the model is not the code that trained it; it is not registered"
        )
    return parity


def is_pyfunc_folder(folder: Path) -> bool:
    return (Path(folder) / MLMODEL).exists()


def scorer_folder(model_folder: Path) -> Path:
    """The scorer's own folder (``spec.json`` and weights) inside a pyfunc model folder."""
    return Path(model_folder) / "artifacts" / SCORER_ARTIFACT


class PyfuncModel:
    """A registered version loaded the way it is served anywhere: through its MLflow pyfunc."""

    def __init__(self, folder: Path, contract_columns: list[str] | None = None) -> None:
        import mlflow.pyfunc

        sys.modules.pop("ct_scoring", None)  # each version scores with the ct_scoring logged with it
        self.folder = Path(folder)
        self.pyfunc = mlflow.pyfunc.load_model(str(folder))
        self.spec = ct_scoring.read_spec(scorer_folder(folder))
        self.columns = contract_columns or ct_scoring.input_columns(self.spec)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        numeric = {s["name"] for s in self.spec["encoder"]["numeric"]}
        inputs = pd.DataFrame(
            {c: (frame[c].astype("float64") if c in numeric else frame[c].astype(str)) for c in self.columns}
        )
        return np.asarray(self.pyfunc.predict(inputs), dtype="float64")

    def scorer(self):
        """The scorer itself (weights, estimator): for warm starts and ``ct reproduce``, not for scoring."""
        return ct_scoring.load_scorer(scorer_folder(self.folder))
