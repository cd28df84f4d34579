"""What one training records on its MLflow run: settings, learning curve, throughput, GPU use, environment.

Everything ``ct reproduce`` and an engineer reading the run need: the resolved contract as an artifact, the
seed (one seed drives Python, NumPy and torch), precision, batch size and the learning rate actually used,
whether it started from the champion, the CPU fallback reason, and torch/CUDA/cuDNN/driver versions with
the GPU name and count and the environment lock hash.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ml.contract import Contract
from ml.data.predictions import PREDICTION_COLUMN
from ml.drift.reference import REFERENCE_ARTIFACT, REFERENCE_STATS_ARTIFACT, reference_drift_stats
from ml.environment import torch_environment
from ml.registry.bundle import environment_lock_hash
from ml.registry.pyfunc import ParityError, check_parity, save_pyfunc
from ml.registry.store import client, download_run_artifact, ensure_experiment
from ml.serving.ct_scoring import score
from ml.settings import PlatformPaths
from ml.training.train import TrainingResult
from ml.training.window import TrainingWindow

logger = logging.getLogger(__name__)

CONTRACT_ARTIFACT = "contract/contract.json"
MODEL_ARTIFACT = "model"
REFERENCE_ROWS = 5000  # training rows (with the model's predictions) kept beside the model as its drift reference
# Per-epoch keys logged as MLflow metrics (with the epoch as step); the rest of a history row is bookkeeping.
EPOCH_METRICS = (
    "train_loss",
    "val_loss",
    "val_auc",
    "val_rmse",
    "rows_per_second",
    "gpu_utilisation_pct",
    "gpu_memory_peak_mib",
    "gpu_memory_reserved_mib",
)


def training_tags(result: TrainingResult, contract: Contract, warm_start_version: str | None) -> dict[str, str]:
    warm = result.warm_start if result.warm_start != "champion" else f"champion v{warm_start_version}"
    tags = {
        "ct.contract": contract.name,
        "ct.device": result.device,
        "ct.device_name": result.device_name,
        "ct.cpu_fallback": result.fallback_reason or "",
        "ct.precision": result.precision,
        "ct.warm_start": warm,
        "ct.warm_start_version": warm_start_version if result.warm_start == "champion" else "",
        "ct.compiled": str(result.compiled).lower(),
        "ct.deterministic": str(result.deterministic).lower(),
        "ct.env_lock_hash": environment_lock_hash(),
        "ct.training_notes": " | ".join(result.notes),
    }
    tags.update({f"ct.env.{key}": value for key, value in torch_environment(result.device).items()})
    return tags


def log_training(result: TrainingResult, contract: Contract, params: dict, warm_start_version: str | None) -> None:
    """Log to the active MLflow run (the caller opens it)."""
    import mlflow

    mlflow.log_params(
        {
            **params,
            "seed": result.seed,
            "python_seed": result.seed,
            "numpy_seed": result.seed,
            "torch_seed": result.seed,
            "batch_size_used": result.batch_size,
            "learning_rate_used": result.learning_rate,
            **contract.training.model_dump(exclude={"window", "model"}),
            "model": json.dumps(contract.training.model.model_dump()),
        }
    )
    for row in result.history:
        mlflow.log_metrics({k: row[k] for k in EPOCH_METRICS if k in row and math.isfinite(row[k])}, step=row["epoch"])
    mlflow.log_metrics(
        {
            "mean_rows_per_second": result.rows_per_second,
            "best_epoch": result.best_epoch,
            "train_seconds": result.train_seconds,
        }
    )
    mlflow.set_tags(training_tags(result, contract, warm_start_version))
    mlflow.log_dict(contract.model_dump(mode="json"), CONTRACT_ARTIFACT)


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    artifact_uri: str


def _reference_sample(train: pd.DataFrame, contract: Contract, model, seed: int) -> pd.DataFrame:
    """Training rows with the model's predictions: the drift reference stored beside the model."""
    sample = train.sample(n=min(REFERENCE_ROWS, len(train)), random_state=seed).sort_values(contract.timestamp)
    return sample.assign(**{PREDICTION_COLUMN: score(model, sample)})


def _log_reference_stats(sample: pd.DataFrame, contract: Contract, folder: Path) -> None:
    """Drift statistics of the reference, stored beside the model for big-batch drift checks."""
    import mlflow

    from ml.drift.stats import DriftStatsError

    try:
        stats = reference_drift_stats(sample, contract).save(folder / Path(REFERENCE_STATS_ARTIFACT).name)
    except DriftStatsError as error:  # e.g. a method only Evidently computes: the monitor then uses Evidently
        logger.info("reference drift statistics not stored: %s", error)
        return
    mlflow.log_artifact(str(stats), str(Path(REFERENCE_STATS_ARTIFACT).parent))


def log_challenger_run(
    paths: PlatformPaths,
    contract: Contract,
    window: TrainingWindow,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    result: TrainingResult,
    warm_start_version: str | None,
) -> LoggedRun:
    """A new MLflow run for a trained challenger: its training record, the model as an MLflow pyfunc, and its
    drift reference. The pyfunc then scores the holdout in a fresh process, which must give the training
    process's scores bit for bit (:func:`ml.registry.pyfunc.check_parity`; a ParityError blocks registration)."""
    import mlflow

    client(paths)
    experiment = ensure_experiment(paths, contract.name)
    expected = score(result.model, holdout)
    with mlflow.start_run(experiment_id=experiment, run_name=f"retrain-{window.reason}") as run:
        log_training(
            result,
            contract,
            {
                "window_rows": len(train),
                "window_start": window.start,
                "holdout_start": window.holdout_start,
                "data_rev": window.data_rev,
                "reason": window.reason,
            },
            warm_start_version,
        )
        with tempfile.TemporaryDirectory() as tmp:
            model_folder = save_pyfunc(result.model, contract, Path(tmp) / MODEL_ARTIFACT, example=holdout)
            mlflow.log_artifacts(str(model_folder), MODEL_ARTIFACT)
            reference = Path(tmp) / Path(REFERENCE_ARTIFACT).name
            sample = _reference_sample(train, contract, result.model, result.seed)
            sample.to_parquet(reference, index=False)
            mlflow.log_artifact(str(reference), str(Path(REFERENCE_ARTIFACT).parent))
            _log_reference_stats(sample, contract, Path(tmp))
        try:
            parity = check_parity(
                download_run_artifact(paths, run.info.run_id, MODEL_ARTIFACT), holdout, contract, expected
            )
        except ParityError:
            mlflow.set_tag("ct.parity", "differs")
            raise
        mlflow.set_tags(parity.to_tags())
    return LoggedRun(run.info.run_id, run.info.artifact_uri)
