"""What one training records on its MLflow run: settings, learning curve, throughput, GPU use, environment.

Everything ``ct reproduce`` and an engineer reading the run need: the resolved contract as an artifact, the
seed (one seed drives Python, NumPy and torch), precision, batch size and the learning rate actually used,
whether it started from the champion, the CPU fallback reason, and torch/CUDA/cuDNN/driver versions with
the GPU name and count and the environment lock hash.
"""

from __future__ import annotations

import json
import math

from ml.bundle import environment_lock_hash
from ml.contract import Contract
from ml.environment import torch_environment
from ml.train import TrainingResult

CONTRACT_ARTIFACT = "contract/contract.json"
# Per-epoch keys logged as MLflow metrics (with the epoch as step); the rest of a history row is bookkeeping.
EPOCH_METRICS = ("train_loss", "val_loss", "val_auc", "val_rmse", "rows_per_second", "gpu_utilisation_pct",
                 "gpu_memory_peak_mib", "gpu_memory_reserved_mib")


def training_tags(result: TrainingResult, contract: Contract, warm_start_version: str | None) -> dict[str, str]:
    warm = result.warm_start if result.warm_start != "champion" else f"champion v{warm_start_version}"
    tags = {"ct.contract": contract.name, "ct.device": result.device, "ct.device_name": result.device_name,
            "ct.cpu_fallback": result.fallback_reason or "", "ct.precision": result.precision,
            "ct.warm_start": warm, "ct.warm_start_version": warm_start_version if result.warm_start == "champion"
            else "", "ct.compiled": str(result.compiled).lower(),
            "ct.deterministic": str(result.deterministic).lower(), "ct.env_lock_hash": environment_lock_hash(),
            "ct.training_notes": " | ".join(result.notes)}
    tags.update({f"ct.env.{key}": value for key, value in torch_environment(result.device).items()})
    return tags


def log_training(result: TrainingResult, contract: Contract, params: dict, warm_start_version: str | None) -> None:
    """Log to the active MLflow run (the caller opens it)."""
    import mlflow

    mlflow.log_params({**params, "seed": result.seed, "python_seed": result.seed, "numpy_seed": result.seed,
                       "torch_seed": result.seed, "batch_size_used": result.batch_size,
                       "learning_rate_used": result.learning_rate,
                       **contract.training.model_dump(exclude={"window", "model"}),
                       "model": json.dumps(contract.training.model.model_dump())})
    for row in result.history:
        mlflow.log_metrics({k: row[k] for k in EPOCH_METRICS if k in row and math.isfinite(row[k])}, step=row["epoch"])
    mlflow.log_metrics({"mean_rows_per_second": result.rows_per_second, "best_epoch": result.best_epoch,
                        "train_seconds": result.train_seconds})
    mlflow.set_tags(training_tags(result, contract, warm_start_version))
    mlflow.log_dict(contract.model_dump(mode="json"), CONTRACT_ARTIFACT)
