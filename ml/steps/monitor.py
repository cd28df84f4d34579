"""Monitor: score an accepted batch with the champion, report drift, and decide whether it confirms drift."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from ml.contract import Contract
from ml.drift_policy import PREDICTION_COLUMN as PREDICTION
from ml.drift_policy import decide
from ml.ledger import append_event, read_events
from ml.registry import CHAMPION, download_run_artifact, load_scoring_model, version_by_alias
from ml.settings import PlatformPaths
from ml.versioning import read_batch

logger = logging.getLogger(__name__)

REFERENCE_ARTIFACT = "reference/reference.parquet"
# Drift statistics of the reference, computed once when the model is trained (ml.drift_stats), so that a big
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
        if feature.is_numeric and feature.name in frame.columns and (feature.min is not None or
                                                                      feature.max is not None):
            values = pd.to_numeric(frame[feature.name], errors="coerce")
            outside = (values < feature.min if feature.min is not None else False) | (
                values > feature.max if feature.max is not None else False)
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
    from ml.drift_stats import ReferenceStats

    numeric, categorical = drift_columns(contract)
    return ReferenceStats.from_frame(plausible_values(reference, contract)[0], numeric=numeric,
                                     categorical=categorical, method=contract.drift.method,
                                     threshold=contract.drift.threshold)


def _stored_reference_stats(paths: PlatformPaths, run_id: str):
    from mlflow.exceptions import MlflowException

    from ml.drift_stats import ReferenceStats

    try:
        return ReferenceStats.load(download_run_artifact(paths, run_id, REFERENCE_STATS_ARTIFACT))
    except (MlflowException, OSError):
        return None  # a model trained before the stats were stored: run_drift_report builds them


def calibrated_drift(paths: PlatformPaths, contract: Contract, run_id: str, reference_stats, current: pd.DataFrame,
                     reference: pd.DataFrame):
    """The batch judged by thresholds calibrated on the champion's reference at the batch's size (cached).

    Calibrations are computed on first use and cached under ``CT_HOME/drift_calibration/<contract>/`` per
    champion run and batch size, so retrain code does not change and each size is calibrated once per champion.
    With ``resample: stretches`` the reference rows (stored in time order, with their timestamps) are cut into
    the contract's batch periods.
    """
    from ml.drift_calibration import cached_calibration, judge_batch, stretches_by_period

    spec = contract.drift.calibration
    path = paths.home / "drift_calibration" / contract.name / f"{run_id}-{len(current)}.json"
    stretches = (stretches_by_period(reference, contract.timestamp, contract.batch.period)
                 if spec.resample == "stretches" else None)
    calibration = cached_calibration(path, reference_stats, batch_rows=len(current), **spec.model_dump(),
                                     stretches=stretches)
    return judge_batch(calibration, reference_stats, current)


def _save_predictions(paths: PlatformPaths, contract: Contract, batch_id: str, frame: pd.DataFrame,
                      scores: np.ndarray, version: str) -> Path:
    """The prediction log: what the champion said about every row, kept for later label joins and audits."""
    log = pd.DataFrame({contract.timestamp: frame[contract.timestamp], PREDICTION: scores,
                        "model_version": version})
    if contract.target in frame.columns:
        log[contract.target] = frame[contract.target].to_numpy()
    target = paths.predictions / contract.name / f"{batch_id}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    log.to_parquet(target, index=False)
    return target


def performance_check(contract: Contract, labels: np.ndarray, scores: np.ndarray, champion_tags: dict) -> dict:
    """Is the champion's metric on this batch significantly below its holdout value minus ``min_drop``?"""
    from ml.stats import GateInputError, metric_confidence_interval

    spec = contract.drift.performance
    expected = champion_tags.get("ct.holdout_metric")
    if spec is None or expected is None:
        return {"checked": False, "why": "no performance policy or no recorded holdout metric"}
    try:
        value, low, high = metric_confidence_interval(spec.metric, labels, scores, alpha=spec.alpha,
                                                      threshold=contract.gate.threshold)
    except GateInputError as error:
        return {"checked": False, "why": str(error)}
    z = norm.ppf(1 - spec.alpha)
    se_batch = (high - low) / (2 * z)
    se_expected = float(champion_tags.get("ct.holdout_metric_se", 0.0))
    se = float(np.hypot(se_batch, se_expected)) or 1e-12
    bound = float(expected) - spec.min_drop
    p_value = float(norm.cdf((value - bound) / se))
    return {"checked": True, "metric": spec.metric, "value": float(value), "expected": float(expected),
            "min_drop": spec.min_drop, "p_value": p_value, "dropped": p_value < spec.alpha}


def _no_champion_record(paths: PlatformPaths, contract: Contract, event: dict) -> dict:
    record = {"batch_id": event["batch_id"], "period_start": event.get("period_start"), "no_champion": True,
              "batch_drifted": False, "reasons": [], "data_rev": event["data_version"]["rev"]}
    append_event(paths.ledger, contract.name, "batch_monitored", **record)
    return record


def _file_report(paths: PlatformPaths, contract: Contract, batch_id: str, report, champion_version: str) -> dict:
    """The drift report's UI URL, and its snapshot added to the Evidently workspace (no Evidently re-run)."""
    from ml.report_urls import report_url
    from ml.report_workspace import DRIFT, add_snapshot

    url = report_url(paths, report.html_path)
    added = add_snapshot(paths, contract.name, report.json_path, batch_id=batch_id, kind=DRIFT,
                         metadata={"champion_version": str(champion_version), "report_url": url or ""})
    return {"report_url": url, "workspace": {k: added[k] for k in ("workspace", "project_id", "snapshot_id")}}


def monitor_batch(paths: PlatformPaths, contract: Contract, ingested: dict) -> dict:
    """Score the batch with the champion, log predictions, run the Evidently drift report, check performance.

    The report's snapshot joins the contract's Evidently workspace project (``workspace`` in the record) and its
    page's UI URL is recorded as ``report_url`` (the monitor task offers it as its "Evidently report" link).
    """
    from ml.drift_report import run_drift_report

    batch_id, rev = ingested["batch_id"], ingested["data_version"]["rev"]
    champion = version_by_alias(paths, contract.model_name, CHAMPION)
    if champion is None:
        return _no_champion_record(paths, contract, ingested)
    frame = read_batch(paths.data_repo, contract.name, batch_id, rev)
    model = load_scoring_model(paths, champion)
    scores = model.predict(frame)
    _save_predictions(paths, contract, batch_id, frame, scores, champion.version)
    reference, _ = plausible_values(
        pd.read_parquet(download_run_artifact(paths, champion.run_id, REFERENCE_ARTIFACT)), contract)
    current, implausible = plausible_values(frame[contract.feature_names].assign(**{PREDICTION: scores}), contract)
    numeric, categorical = drift_columns(contract)
    reference_stats = _stored_reference_stats(paths, champion.run_id)
    report = run_drift_report(reference[contract.feature_names + [PREDICTION]], current, numeric=numeric,
                              categorical=categorical, out_dir=paths.reports / contract.name,
                              report_id=f"{contract.name}-{batch_id}-v{champion.version}",
                              method=contract.drift.method, threshold=contract.drift.threshold,
                              drift_share=contract.drift.drift_share,
                              reference_stats=reference_stats)
    filed = _file_report(paths, contract, batch_id, report, champion.version)
    calibrated = (calibrated_drift(paths, contract, champion.run_id, reference_stats or reference_drift_stats(
        reference, contract), current, reference) if contract.drift.calibration else None)
    drifted = list(calibrated.drifted_columns) if calibrated else report.drifted_columns()
    drifted_features = [c for c in drifted if c != PREDICTION]
    share = len(drifted_features) / len(contract.feature_names)
    prediction_drift = contract.drift.include_prediction and PREDICTION in drifted
    # Calibrated: any feature past its threshold and floor (the correction bounds the per-batch false alarms).
    feature_drift = bool(drifted_features) if calibrated else share >= contract.drift.drift_share
    performance = (performance_check(contract, frame[contract.target].to_numpy(), scores, champion.tags)
                   if contract.target in frame.columns else {"checked": False, "why": "no labels yet"})
    reasons = ([r for r, fired in (("performance", performance.get("dropped")),
                                   ("data_drift", feature_drift),
                                   ("prediction_drift", prediction_drift)) if fired])
    record = {"batch_id": batch_id, "period_start": ingested.get("period_start"), "data_rev": rev,
              "champion_version": champion.version, "report_id": report.report_id,
              "report_html": report.html_path, "report_json": report.json_path, **filed, "drift_share": share,
              "drifted_columns": drifted_features, "prediction_drift": bool(prediction_drift),
              "columns": [c.to_dict() for c in report.columns], "performance": performance,
              "champion_metric": performance.get("value"), "batch_drifted": bool(reasons), "reasons": reasons,
              "implausible_values_left_out": implausible,
              **({"calibration": calibrated.to_dict()} if calibrated else {})}
    append_event(paths.ledger, contract.name, "batch_monitored", **record)
    logger.info("batch %s: drift share %.2f %s, performance %s, drifted=%s", batch_id, share, drifted_features,
                performance, bool(reasons))
    return {k: v for k, v in record.items() if k != "columns"}


def decide_drift(paths: PlatformPaths, contract: Contract, monitored: dict) -> dict:
    """Apply the contract's drift policy; on confirmation record and return the signal's metadata.

    The signal goes to the ledger only; the drift DAG's :class:`ct_platform.sensors.DriftSensor` picks it up
    and emits the drift asset event that starts the retrain.
    """
    events = read_events(paths.ledger, contract.name)
    decision = decide(contract.drift, events, monitored)
    logger.info("drift policy for batch %s: %s", monitored["batch_id"], decision.explanation)
    append_event(paths.ledger, contract.name, "drift_decided", batch_id=monitored["batch_id"],
                 confirmed=decision.confirmed, reason=decision.reason, explanation=decision.explanation)
    if not decision.confirmed:
        return {"confirmed": False, "explanation": decision.explanation}
    signal = {"signal_id": uuid.uuid4().hex, "contract": contract.name, "reason": decision.reason,
              "batch_id": monitored["batch_id"],
              "data_rev": monitored["data_rev"], "onset_batch": decision.onset_batch,
              "onset_period_start": decision.onset_period_start, "report_id": monitored.get("report_id"),
              "report_html": monitored.get("report_html"),
              "report_json": monitored.get("report_json"),
              # a performance signal comes from the labels of a batch: its report of target drift and quality
              **{k: monitored[k] for k in ("labels_report_html", "labels_report_json") if monitored.get(k)},
              "drifted_columns": monitored.get("drifted_columns", []),
              "prediction_drift": bool(monitored.get("prediction_drift")),
              "drift_share": monitored.get("drift_share"), "performance": monitored.get("performance"),
              "explanation": decision.explanation}
    append_event(paths.ledger, contract.name, "drift_signal", **signal)
    return {"confirmed": True, "signal": signal}
