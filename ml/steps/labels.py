"""Labels: check a landed label file against the batch it labels, join it as a data version, judge the champion.

The steps of ``ct_labels_<contract>`` (contracts with ``labels.arrive: delayed``), each one task:

1. :func:`validate_landed_labels`: the label file must label exactly the rows of a batch that was accepted and
   monitored (:func:`ml.data.labels.check_label_file`); a bad file is quarantined in
   ``quarantine/<contract>/labels-<batch_id>/`` with ``reason.md`` and ``verdict.json``, a ``labels_quarantined``
   ledger event is written, and :class:`LabelsRejected` says why. Labels that arrive before their batch was
   monitored raise :class:`LabelsNotReady` (a retry will find it scored); nothing is moved.
2. :func:`commit_landed_labels`: the batch's file gains its target column, committed as a new data version
   (:func:`ml.data.versioning.commit_labels`), so later training windows learn from it; ``labels_ingested``.
3. :func:`evaluate_labels`: the scores the champion gave the batch when it was monitored (the prediction log,
   and the model version named there) against the labels: :func:`ml.steps.monitor.performance_check` (a
   one-sided test against the version's holdout metric minus ``drift.performance.min_drop``), and the labels
   report (:mod:`ml.reports.labels`: target drift and quality beside the champion's validation numbers), added
   to the Evidently workspace. It appends an updated ``batch_monitored`` record for the batch: the monitor's
   record plus ``performance``, ``reasons`` (with ``performance`` on a significant drop), ``batch_drifted``,
   ``labels_report_{id,html,json,url}``, ``target_drift``, ``quality`` and ``labels_workspace`` (the run), with
   ``data_rev`` now the version holding the labels. The DAG then calls :func:`ml.steps.monitor.decide_drift` on
   it, so the same drift policy decides (debounce counts the batch where it was first monitored; cooldown;
   merging).

A drop measured on a batch scored by a version that is no longer the champion is recorded but does not count
as drift: it says nothing about the model now serving (the retrain it would call for has already happened).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ml.contract import Contract
from ml.data.batches import BatchManifest, batch_id_of, move_landed
from ml.data.labels import join_labels, labels_conflict
from ml.data.predictions import read_predictions
from ml.data.versioning import DataVersionError, commit_labels, committed_batches, current_version, read_batch
from ml.drift.policy import REASON_ORDER
from ml.ledger import EventKind, append_event, latest_by_batch, read_events
from ml.registry.store import CHAMPION, get_version, version_by_alias
from ml.settings import PlatformPaths
from ml.validation.labels import CONFLICT, UNKNOWN_BATCH, check_label_file, label_reason, rejected_verdict
from ml.validation.quarantine import quarantine_batch, quarantine_folder_name

logger = logging.getLogger(__name__)

LABELS_QUARANTINED, LABELS_INGESTED = EventKind.LABELS_QUARANTINED, EventKind.LABELS_INGESTED
_BOOKKEEPING = ("kind", "contract", "recorded_at")


class LabelsRejected(ValueError):
    """A label file failed its checks and was quarantined; the message is the reason a person can act on."""

    def __init__(self, message: str, verdict: dict | None = None) -> None:
        super().__init__(message)
        self.verdict = verdict or {}


class LabelsNotReady(RuntimeError):
    """Labels for a batch that is accepted but not monitored yet: nothing is wrong, a retry will find it scored."""


def monitored_record(paths: PlatformPaths, contract: str, batch_id: str) -> dict | None:
    """The newest ``batch_monitored`` record of ``batch_id`` (None before the monitor judged it)."""
    return latest_by_batch(read_events(paths.ledger, contract, [EventKind.BATCH_MONITORED])).get(batch_id)


def _reject(paths: PlatformPaths, contract: Contract, manifest_file: Path, verdict: dict, reason: str) -> dict:
    batch_id = batch_id_of(manifest_file)
    folder = quarantine_batch(
        paths,
        contract.name,
        manifest_file,
        verdict,
        reason,
        folder_name=quarantine_folder_name(batch_id),
        title=f"Labels of batch {batch_id}",
    )
    append_event(
        paths.ledger,
        contract.name,
        LABELS_QUARANTINED,
        batch_id=batch_id,
        status=verdict["status"],
        reason=reason,
        folder=str(folder),
    )
    raise LabelsRejected(
        f"labels of batch {batch_id} quarantined ({verdict['status']}) in {folder}:\n{reason}", verdict
    )


def _reject_one(
    paths: PlatformPaths, contract: Contract, manifest_file: Path, status: str, check: str, message: str
) -> dict:
    verdict = rejected_verdict(batch_id_of(manifest_file), status, check, message)
    return _reject(paths, contract, manifest_file, verdict.to_dict(), label_reason(verdict))


def validate_landed_labels(paths: PlatformPaths, contract: Contract, manifest_path: str) -> dict:
    """Check a landed label file against its batch. Pass: stage the labels. Fail: quarantine and raise."""
    from ml.validation.common import UNREADABLE

    manifest_file = Path(manifest_path)
    batch_id = batch_id_of(manifest_file)
    try:
        manifest = BatchManifest.read(manifest_file)
    except ValueError as error:
        return _reject_one(paths, contract, manifest_file, UNREADABLE, "manifest", str(error))
    if batch_id not in committed_batches(paths.data_repo, contract.name):
        return _reject_one(
            paths,
            contract,
            manifest_file,
            UNKNOWN_BATCH,
            "labels.unknown_batch",
            f"no batch {batch_id!r} was accepted into the {contract.name} dataset, so none of its rows "
            "was scored: the batch was quarantined, has not landed yet, or the label file names the "
            "wrong batch (its manifest's file name is the batch id)",
        )
    if monitored_record(paths, contract.name, batch_id) is None:
        raise LabelsNotReady(
            f"batch {batch_id} is in the dataset but the monitor has not scored it yet; the labels "
            "stay in landing and the task retries"
        )
    batch = read_batch(paths.data_repo, contract.name, batch_id, current_version(paths.data_repo, contract.name).rev)
    verdict, labels = check_label_file(manifest.data_path(manifest_file.parent), manifest, contract, batch)
    if not verdict.passed:
        return _reject(paths, contract, manifest_file, verdict.to_dict(), label_reason(verdict))
    changed = labels_conflict(batch, labels, contract)
    if changed:
        return _reject_one(
            paths,
            contract,
            manifest_file,
            CONFLICT,
            "labels.conflict",
            f"batch {batch_id} already has labels in the dataset and {changed} of its rows would get "
            "a different one: joined labels are never rewritten (training windows and reports were "
            "built on them); fix them upstream and land a corrected batch instead",
        )
    staging = paths.staged_labels(contract.name, batch_id)
    staging.parent.mkdir(parents=True, exist_ok=True)
    labels.to_parquet(staging, index=False)
    logger.info("labels of batch %s passed their checks (%d rows)", batch_id, len(labels))
    return {
        "batch_id": batch_id,
        "manifest": str(manifest_file),
        "rows": len(labels),
        "already_labelled": contract.target in batch.columns and bool(batch[contract.target].notna().all()),
    }


def commit_landed_labels(paths: PlatformPaths, contract: Contract, validated: dict) -> dict:
    """Join the staged labels into their batch as a new data version; move the label files aside."""
    batch_id = validated["batch_id"]
    staging = paths.staged_labels(contract.name, batch_id)
    done = latest_by_batch(read_events(paths.ledger, contract.name, [LABELS_INGESTED])).get(batch_id)
    if done and not staging.exists():  # a re-run after the join finished: nothing to do twice
        return {k: v for k, v in done.items() if k not in _BOOKKEEPING}
    labels = pd.read_parquet(staging)
    batch = read_batch(paths.data_repo, contract.name, batch_id, current_version(paths.data_repo, contract.name).rev)
    version = commit_labels(paths.data_repo, contract.name, batch_id, join_labels(batch, labels, contract))
    move_landed(Path(validated["manifest"]), paths.labels_processed(contract.name))
    staging.unlink(missing_ok=True)
    event = {"batch_id": batch_id, "rows": validated["rows"], "data_version": version.to_dict()}
    append_event(paths.ledger, contract.name, LABELS_INGESTED, **event)
    return event


def _ordered(reasons: set[str]) -> list[str]:
    return [r for r in REASON_ORDER if r in reasons] + sorted(reasons - set(REASON_ORDER))


def _aligned(log: pd.DataFrame, frame: pd.DataFrame, contract: Contract, batch_id: str) -> None:
    stamps = contract.timestamp
    if len(log) != len(frame) or not log[stamps].reset_index(drop=True).equals(frame[stamps].reset_index(drop=True)):
        raise DataVersionError(
            f"the prediction log of batch {batch_id} ({len(log)} rows) does not follow the batch's "
            f"rows ({len(frame)}) in the dataset: was the batch re-ingested after it was scored?"
        )


def evaluate_labels(paths: PlatformPaths, contract: Contract, ingested: dict) -> dict:
    """Judge the model that scored the batch on its labels; append the updated ``batch_monitored`` record."""
    from ml.data.predictions import PREDICTION_COLUMN as PREDICTION
    from ml.drift.performance import performance_check

    batch_id, rev = ingested["batch_id"], ingested["data_version"]["rev"]
    earlier = monitored_record(paths, contract.name, batch_id) or {"batch_id": batch_id, "reasons": []}
    record = {k: v for k, v in earlier.items() if k not in _BOOKKEEPING}
    # data_rev: the version that holds these labels (a signal pinned to it sees them); the scored one stays beside
    record.update(labelled=True, data_rev=rev, monitored_data_rev=earlier.get("data_rev"))
    log = read_predictions(paths, contract, batch_id)
    if earlier.get("no_champion") or log is None:
        record["performance"] = {"checked": False, "why": "no champion scored this batch when it was monitored"}
        return _append(paths, contract, record)
    frame = read_batch(paths.data_repo, contract.name, batch_id, rev)
    _aligned(log, frame, contract, batch_id)
    scored_by = str(log["model_version"].iloc[0])
    version = get_version(paths, contract.model_name, scored_by)
    performance = performance_check(
        contract, frame[contract.target].to_numpy(), log[PREDICTION].to_numpy(), version.tags
    )
    champion = version_by_alias(paths, contract.model_name, CHAMPION)
    serving = champion is not None and champion.version == scored_by
    if not serving:
        performance["not_counted"] = (
            f"scored by version {scored_by}; the champion is now "
            f"{champion.version if champion else 'none'}: a drop of a replaced model is "
            "no evidence against the one serving"
        )
    report = _labels_report(paths, contract, batch_id, frame, log[PREDICTION].to_numpy(), version)
    reasons = set(earlier.get("reasons") or []) - {"performance"}
    if performance.get("dropped") and serving:
        reasons.add("performance")
    record.update(
        performance=performance,
        champion_metric=performance.get("value"),
        reasons=_ordered(reasons),
        batch_drifted=bool(reasons),
        scored_by=scored_by,
        labels_report_id=report["report_id"],
        labels_report_html=report["html_path"],
        labels_report_json=report["json_path"],
        labels_report_url=report["report_url"],
        target_drift=report["target_drift"],
        quality=report["quality"],
        labels_reference=report["reference"],
        labels_workspace=report["workspace"],
    )
    return _append(paths, contract, record)


def _append(paths: PlatformPaths, contract: Contract, record: dict) -> dict:
    append_event(paths.ledger, contract.name, EventKind.BATCH_MONITORED, **record)
    logger.info(
        "labels of batch %s: performance %s, reasons %s",
        record["batch_id"],
        record.get("performance"),
        record.get("reasons"),
    )
    return {k: v for k, v in record.items() if k != "columns"}


def _labels_report(
    paths: PlatformPaths, contract: Contract, batch_id: str, frame: pd.DataFrame, scores, version
) -> dict:
    """Run the labels report, add it to the Evidently workspace; its paths, UI URL, numbers and workspace run."""
    from ml.data.predictions import PREDICTION_COLUMN as PREDICTION
    from ml.reports.labels import champion_reference, run_labels_report, validation_metadata
    from ml.reports.urls import report_url
    from ml.reports.workspace import LABELS, add_snapshot

    reference, kind = champion_reference(paths, contract, version)
    current = pd.DataFrame({contract.target: frame[contract.target].to_numpy(), PREDICTION: scores})
    metadata = {"contract": contract.name, "batch_id": batch_id, **validation_metadata(version, kind, len(reference))}
    report = run_labels_report(
        current,
        reference,
        contract=contract,
        out_dir=paths.reports_for(contract.name),
        report_id=f"{contract.name}-{batch_id}-labels-v{version.version}",
        metadata=metadata,
        reference_kind=kind,
    )
    url = report_url(paths, report.html_path)
    added = add_snapshot(
        paths,
        contract.name,
        report.json_path,
        batch_id=batch_id,
        kind=LABELS,
        metadata={"champion_version": str(version.version), "report_url": url or ""},
    )
    return {
        **report.to_dict(),
        "report_url": url,
        "workspace": {k: added[k] for k in ("workspace", "project_id", "snapshot_id")},
    }
