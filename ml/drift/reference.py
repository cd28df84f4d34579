"""The champion's drift reference: its stored sample and statistics, the columns compared, plausible values,
and thresholds calibrated on it.
"""

from __future__ import annotations

import logging

import pandas as pd

from ml.contract import Contract
from ml.data.predictions import PREDICTION_COLUMN as PREDICTION
from ml.settings import PlatformPaths

logger = logging.getLogger(__name__)


REFERENCE_ARTIFACT = "reference/reference.parquet"


# Drift statistics of the reference, computed once when the model is trained (ml.drift.stats), so that a big
# batch is compared without re-sorting the reference every time. Older models without it get them rebuilt.
REFERENCE_STATS_ARTIFACT = "reference/drift_stats.npz"


def drift_columns(contract: Contract) -> tuple[list[str], list[str]]:
    """(numeric, categorical) columns the drift report compares: features, plus the prediction when asked."""
    numeric = contract.numeric_features + ([PREDICTION] if contract.drift.include_prediction else [])
    return numeric, contract.categorical_features


def plausible_values(frame: pd.DataFrame, contract: Contract) -> tuple[pd.DataFrame, dict[str, int]]:
    """``frame`` with numeric feature values outside the contract's ``min``/``max`` set to null, and their counts.

    Validation tolerates a few such values per batch (``batch.range_mostly``) and reports them; drift statistics
    leave them out (as nulls, which drift methods drop) on both sides, so that one impossible reading does not
    pass for a shift of the whole column: the weather data's two sea-level pressure readings of 94 sd move the
    year 1958's normed Wasserstein distance to 3.3 against a reference without them (0.1 for every other year of
    1957-1980), and they would otherwise start a retrain on bad data. Nothing is lost: the batch keeps its
    values, and the monitor records how many were left out per column.
    """
    masks = {}
    for feature in contract.features:
        if (
            feature.is_numeric
            and feature.name in frame.columns
            and (feature.min is not None or feature.max is not None)
        ):
            values = pd.to_numeric(frame[feature.name], errors="coerce")
            outside = (values < feature.min if feature.min is not None else False) | (
                values > feature.max if feature.max is not None else False
            )
            if outside.any():
                masks[feature.name] = outside
    if not masks:
        return frame, {}
    cleaned = frame.copy()
    for name, outside in masks.items():
        cleaned[name] = cleaned[name].astype("float64").mask(outside)
    return cleaned, {name: int(outside.sum()) for name, outside in masks.items()}


def reference_drift_stats(reference: pd.DataFrame, contract: Contract):
    """The reference's drift statistics for the contract's columns, method and threshold (plausible values)."""
    from ml.drift.stats import ReferenceStats

    numeric, categorical = drift_columns(contract)
    return ReferenceStats.from_frame(
        plausible_values(reference, contract)[0],
        numeric=numeric,
        categorical=categorical,
        method=contract.drift.method,
        threshold=contract.drift.threshold,
    )


def calibrated_drift(
    paths: PlatformPaths,
    contract: Contract,
    run_id: str,
    reference_stats,
    current: pd.DataFrame,
    reference: pd.DataFrame,
):
    """The batch judged by thresholds calibrated on the champion's reference at the batch's size (cached).

    Calibrations are computed on first use and cached under ``CT_HOME/drift_calibration/<contract>/`` per
    champion run and batch size, so retrain code does not change and each size is calibrated once per champion.
    With ``resample: stretches`` the reference rows (stored in time order, with their timestamps) are cut into
    the contract's batch periods.
    """
    from ml.drift.calibration import cached_calibration, judge_batch, stretches_by_period

    spec = contract.drift.calibration
    path = paths.drift_calibration_for(contract.name, run_id, len(current))
    stretches = (
        stretches_by_period(reference, contract.timestamp, contract.batch.period)
        if spec.resample == "stretches"
        else None
    )
    calibration = cached_calibration(
        path, reference_stats, batch_rows=len(current), **spec.model_dump(), stretches=stretches
    )
    return judge_batch(calibration, reference_stats, current)
