"""The prediction log: what the champion said about every row of a batch, kept for label joins and audits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ml.contract import Contract
from ml.settings import PlatformPaths

PREDICTION_COLUMN = "prediction"


def save_predictions(
    paths: PlatformPaths, contract: Contract, batch_id: str, frame: pd.DataFrame, scores: np.ndarray, version: str
) -> Path:
    """The prediction log: what the champion said about every row, kept for later label joins and audits."""
    log = pd.DataFrame(
        {contract.timestamp: frame[contract.timestamp], PREDICTION_COLUMN: scores, "model_version": version}
    )
    if contract.target in frame.columns:
        log[contract.target] = frame[contract.target].to_numpy()
    target = paths.predictions_for(contract.name, batch_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    log.to_parquet(target, index=False)
    return target


def read_predictions(paths: PlatformPaths, contract: Contract, batch_id: str) -> pd.DataFrame | None:
    path = paths.predictions_for(contract.name, batch_id)
    return pd.read_parquet(path) if path.exists() else None
