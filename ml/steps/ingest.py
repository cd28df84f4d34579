"""Ingest: validate a landed batch, then commit it as a data version or quarantine it."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ml.contract import Contract
from ml.data.batches import BatchManifest, batch_id_of, move_landed
from ml.data.versioning import commit_batch
from ml.ledger import EventKind, append_event
from ml.settings import PlatformPaths
from ml.validation.gx_project import project_exists
from ml.validation.quarantine import quarantine_batch

logger = logging.getLogger(__name__)


class BatchRejected(ValueError):
    """A batch failed validation and was quarantined; the message is the reason a person can act on.

    ``verdict`` is the validation verdict as a dict (its ``data_docs_page``, when GX built one, is the page to link).
    """

    def __init__(self, message: str, verdict: dict | None = None) -> None:
        super().__init__(message)
        self.verdict = verdict or {}


def validate_landed_batch(paths: PlatformPaths, contract: Contract, manifest_path: str) -> dict:
    """Run the contract's checks on a landed batch. Pass: stage it. Fail: quarantine it and raise."""
    from ml.validation.batch import validate_batch

    manifest_file = Path(manifest_path)
    batch_id = batch_id_of(manifest_file)
    try:
        manifest = BatchManifest.read(manifest_file)
    except ValueError as error:
        verdict = {
            "batch_id": batch_id,
            "status": "unreadable",
            "failures": [{"check": "manifest", "message": str(error)}],
        }
        return _reject(paths, contract, manifest_file, verdict, str(error), kind="unreadable")
    gx_root = paths.gx if project_exists(paths.gx) else None  # else validate in memory (same derived suite)
    verdict, frame = validate_batch(manifest.data_path(manifest_file.parent), manifest, contract, gx_root=gx_root)
    if not verdict.passed:
        return _reject(paths, contract, manifest_file, verdict.to_dict(), verdict.reason(), kind=verdict.status)
    staging = paths.staged_batch(contract.name, batch_id)
    staging.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(staging, index=False)
    logger.info("batch %s passed validation (%d rows)", batch_id, len(frame))
    return {
        "batch_id": batch_id,
        "manifest": str(manifest_file),
        "rows": len(frame),
        "kind": manifest.kind,
        "period_start": manifest.period_start,
        "period_end": manifest.period_end,
        "data_docs": verdict.data_docs_path,
        "data_docs_page": verdict.data_docs_page,
    }


def _reject(
    paths: PlatformPaths, contract: Contract, manifest_file: Path, verdict: dict, reason: str, kind: str
) -> dict:
    batch_id = batch_id_of(manifest_file)
    folder = quarantine_batch(paths, contract.name, manifest_file, verdict, reason)
    append_event(
        paths.ledger,
        contract.name,
        EventKind.BATCH_QUARANTINED,
        batch_id=batch_id,
        status=kind,
        reason=reason,
        folder=str(folder),
    )
    raise BatchRejected(f"batch {batch_id} quarantined ({kind}) in {folder}:\n{reason}", verdict)


def commit_validated_batch(paths: PlatformPaths, contract: Contract, validated: dict) -> dict:
    """Append the staged batch to the dataset as a new DVC data version; move the landing files aside."""
    batch_id = validated["batch_id"]
    staging = paths.staged_batch(contract.name, batch_id)
    frame = pd.read_parquet(staging)
    version = commit_batch(paths.data_repo, contract.name, batch_id, frame)
    move_landed(Path(validated["manifest"]), paths.processed_for(contract.name))
    staging.unlink(missing_ok=True)
    event = {
        "batch_id": batch_id,
        "rows": validated["rows"],
        "batch_kind": validated["kind"],
        "period_start": validated["period_start"],
        "period_end": validated["period_end"],
        "data_version": version.to_dict(),
    }
    append_event(paths.ledger, contract.name, EventKind.BATCH_INGESTED, **event)
    return event
