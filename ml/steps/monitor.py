"""Monitor: score an accepted batch with the champion, report drift, and decide whether it confirms drift."""

from __future__ import annotations

import logging
import uuid

import pandas as pd

from ml.contract import Contract
from ml.data.predictions import PREDICTION_COLUMN as PREDICTION
from ml.data.predictions import save_predictions
from ml.data.versioning import read_batch
from ml.drift.performance import performance_check
from ml.drift.policy import decide
from ml.drift.records import DriftSignal, MonitoredBatch
from ml.drift.reference import (
    REFERENCE_ARTIFACT,
    REFERENCE_STATS_ARTIFACT,
    calibrated_drift,
    drift_columns,
    plausible_values,
    reference_drift_stats,
)
from ml.ledger import EventKind, append_event, read_events
from ml.registry.store import (
    CHAMPION,
    download_run_artifact,
    load_scoring_model,
    optional_run_artifact,
    version_by_alias,
)
from ml.settings import PlatformPaths

logger = logging.getLogger(__name__)


def _no_champion_record(paths: PlatformPaths, contract: Contract, event: dict) -> dict:
    record = {
        "batch_id": event["batch_id"],
        "period_start": event.get("period_start"),
        "no_champion": True,
        "batch_drifted": False,
        "reasons": [],
        "data_rev": event["data_version"]["rev"],
    }
    append_event(paths.ledger, contract.name, EventKind.BATCH_MONITORED, **record)
    return record


def _file_report(paths: PlatformPaths, contract: Contract, batch_id: str, report, champion_version: str) -> dict:
    """The drift report's UI URL, and its snapshot added to the Evidently workspace (no Evidently re-run)."""
    from ml.reports.urls import report_url
    from ml.reports.workspace import DRIFT, add_snapshot

    url = report_url(paths, report.html_path)
    added = add_snapshot(
        paths,
        contract.name,
        report.json_path,
        batch_id=batch_id,
        kind=DRIFT,
        metadata={"champion_version": str(champion_version), "report_url": url or ""},
    )
    return {"report_url": url, "workspace": {k: added[k] for k in ("workspace", "project_id", "snapshot_id")}}


def monitor_batch(paths: PlatformPaths, contract: Contract, ingested: dict) -> dict:
    """Score the batch with the champion, log predictions, run the Evidently drift report, check performance.

    The report's snapshot joins the contract's Evidently workspace project (``workspace`` in the record) and its
    page's UI URL is recorded as ``report_url`` (the monitor task offers it as its "Evidently report" link).
    """
    from ml.drift.report import run_drift_report

    batch_id, rev = ingested["batch_id"], ingested["data_version"]["rev"]
    champion = version_by_alias(paths, contract.model_name, CHAMPION)
    if champion is None:
        return _no_champion_record(paths, contract, ingested)
    frame = read_batch(paths.data_repo, contract.name, batch_id, rev)
    model = load_scoring_model(paths, champion)
    scores = model.predict(frame)
    save_predictions(paths, contract, batch_id, frame, scores, champion.version)
    reference, _ = plausible_values(
        pd.read_parquet(download_run_artifact(paths, champion.run_id, REFERENCE_ARTIFACT)), contract
    )
    current, implausible = plausible_values(frame[contract.feature_names].assign(**{PREDICTION: scores}), contract)
    numeric, categorical = drift_columns(contract)
    reference_stats = _stored_reference_stats(paths, champion.run_id)
    report = run_drift_report(
        reference[contract.feature_names + [PREDICTION]],
        current,
        numeric=numeric,
        categorical=categorical,
        out_dir=paths.reports_for(contract.name),
        report_id=f"{contract.name}-{batch_id}-v{champion.version}",
        method=contract.drift.method,
        threshold=contract.drift.threshold,
        drift_share=contract.drift.drift_share,
        reference_stats=reference_stats,
    )
    filed = _file_report(paths, contract, batch_id, report, champion.version)
    calibrated = (
        calibrated_drift(
            paths,
            contract,
            champion.run_id,
            reference_stats or reference_drift_stats(reference, contract),
            current,
            reference,
        )
        if contract.drift.calibration
        else None
    )
    drifted = list(calibrated.drifted_columns) if calibrated else report.drifted_columns()
    drifted_features = [c for c in drifted if c != PREDICTION]
    share = len(drifted_features) / len(contract.feature_names)
    prediction_drift = contract.drift.include_prediction and PREDICTION in drifted
    # Calibrated: any feature past its threshold and floor (the correction bounds the per-batch false alarms).
    feature_drift = bool(drifted_features) if calibrated else share >= contract.drift.drift_share
    performance = (
        performance_check(contract, frame[contract.target].to_numpy(), scores, champion.tags)
        if contract.target in frame.columns
        else {"checked": False, "why": "no labels yet"}
    )
    reasons = [
        r
        for r, fired in (
            ("performance", performance.get("dropped")),
            ("data_drift", feature_drift),
            ("prediction_drift", prediction_drift),
        )
        if fired
    ]
    record = {
        "batch_id": batch_id,
        "period_start": ingested.get("period_start"),
        "data_rev": rev,
        "champion_version": champion.version,
        "report_id": report.report_id,
        "report_html": report.html_path,
        "report_json": report.json_path,
        **filed,
        "drift_share": share,
        "drifted_columns": drifted_features,
        "prediction_drift": bool(prediction_drift),
        "columns": [c.to_dict() for c in report.columns],
        "performance": performance,
        "champion_metric": performance.get("value"),
        "batch_drifted": bool(reasons),
        "reasons": reasons,
        "implausible_values_left_out": implausible,
        **({"calibration": calibrated.to_dict()} if calibrated else {}),
    }
    append_event(paths.ledger, contract.name, EventKind.BATCH_MONITORED, **record)
    logger.info(
        "batch %s: drift share %.2f %s, performance %s, drifted=%s",
        batch_id,
        share,
        drifted_features,
        performance,
        bool(reasons),
    )
    return {k: v for k, v in record.items() if k != "columns"}


def decide_drift(paths: PlatformPaths, contract: Contract, monitored: dict) -> dict:
    """Apply the contract's drift policy; on confirmation record and return the signal's metadata.

    The signal goes to the ledger only; the drift DAG's :class:`ct_platform.sensors.DriftSensor` picks it up
    and emits the drift asset event that starts the retrain.
    """
    events = read_events(paths.ledger, contract.name)
    current = MonitoredBatch.from_dict(monitored)
    decision = decide(contract.drift, events, current)
    logger.info("drift policy for batch %s: %s", current.batch_id, decision.explanation)
    append_event(
        paths.ledger,
        contract.name,
        EventKind.DRIFT_DECIDED,
        batch_id=current.batch_id,
        confirmed=decision.confirmed,
        reason=decision.reason,
        explanation=decision.explanation,
    )
    if not decision.confirmed:
        return {"confirmed": False, "explanation": decision.explanation}
    signal = DriftSignal.confirmed(contract.name, uuid.uuid4().hex, current, decision).to_dict()
    append_event(paths.ledger, contract.name, EventKind.DRIFT_SIGNAL, **signal)
    return {"confirmed": True, "signal": signal}


def _stored_reference_stats(paths: PlatformPaths, run_id: str):
    """The drift statistics stored beside the champion's model, or None for a model trained before they were
    stored (run_drift_report then builds them)."""
    from ml.drift.stats import ReferenceStats

    path = optional_run_artifact(paths, run_id, REFERENCE_STATS_ARTIFACT)
    try:
        return ReferenceStats.load(path) if path is not None else None
    except OSError:
        return None
