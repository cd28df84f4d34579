"""Ingest: validate a landed batch, then commit it as a data version or quarantine it."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pandas as pd

from ml.batches import BatchManifest, atomic_write_json, batch_id_of
from ml.contract import Contract
from ml.gx_project import project_exists
from ml.ledger import append_event
from ml.settings import PlatformPaths
from ml.versioning import commit_batch

logger = logging.getLogger(__name__)


class BatchRejected(ValueError):
    """A batch failed validation and was quarantined; the message is the reason a person can act on.

    ``verdict`` is the validation verdict as a dict (its ``data_docs_page``, when GX built one, is the page to link).
    """

    def __init__(self, message: str, verdict: dict | None = None) -> None:
        super().__init__(message)
        self.verdict = verdict or {}


def _staging_path(paths: PlatformPaths, contract: str, batch_id: str) -> Path:
    return paths.home / "staging" / contract / f"{batch_id}.parquet"


def _landing_files(manifest_path: Path, manifest: BatchManifest | None) -> list[Path]:
    files = [manifest_path]
    data = manifest.data_path(manifest_path.parent) if manifest else manifest_path.with_name(
        batch_id_of(manifest_path) + ".csv")
    if data.exists():
        files.insert(0, data)
    return files


def quarantine_batch(paths: PlatformPaths, contract: str, manifest_path: Path, verdict: dict, reason: str, *,
                     folder_name: str | None = None, title: str | None = None) -> Path:
    """Move the batch's files into ``quarantine/<contract>/<batch_id>/`` with a reason file; nothing is lost.

    The folder is assembled under a temporary name and renamed last, so a crash leaves either the batch in
    landing or a complete quarantine folder. A second failure of the same batch id gets a suffix.
    ``folder_name`` and ``title`` name the folder and the reason's heading otherwise (label files use
    ``labels-<batch_id>``).
    """
    batch_id = batch_id_of(manifest_path)
    name = folder_name or batch_id
    root = paths.quarantine_for(contract)
    root.mkdir(parents=True, exist_ok=True)
    temp = root / f".{name}.incoming"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()
    (temp / "reason.md").write_text(f"# {title or f'Batch {batch_id}'} quarantined\n\n{reason}\n\n"
                                    f"Release it after fixing the producer with `ct quarantine release {name}`.\n")
    atomic_write_json(temp / "verdict.json", verdict)
    try:
        manifest = BatchManifest.read(manifest_path)
    except ValueError:
        manifest = None
    for path in _landing_files(manifest_path, manifest):
        os.replace(path, temp / path.name)
    target, attempt = root / name, 1
    while target.exists():
        attempt += 1
        target = root / f"{name}.{attempt}"
    os.replace(temp, target)
    return target


def validate_landed_batch(paths: PlatformPaths, contract: Contract, manifest_path: str) -> dict:
    """Run the contract's checks on a landed batch. Pass: stage it. Fail: quarantine it and raise."""
    from ml.validation import validate_batch

    manifest_file = Path(manifest_path)
    batch_id = batch_id_of(manifest_file)
    try:
        manifest = BatchManifest.read(manifest_file)
    except ValueError as error:
        verdict = {"batch_id": batch_id, "status": "unreadable", "failures": [{"check": "manifest",
                                                                             "message": str(error)}]}
        return _reject(paths, contract, manifest_file, verdict, str(error), kind="unreadable")
    gx_root = paths.gx if project_exists(paths.gx) else None  # else validate in memory (same derived suite)
    verdict, frame = validate_batch(manifest.data_path(manifest_file.parent), manifest, contract, gx_root=gx_root)
    if not verdict.passed:
        return _reject(paths, contract, manifest_file, verdict.to_dict(), verdict.reason(), kind=verdict.status)
    staging = _staging_path(paths, contract.name, batch_id)
    staging.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(staging, index=False)
    logger.info("batch %s passed validation (%d rows)", batch_id, len(frame))
    return {"batch_id": batch_id, "manifest": str(manifest_file), "rows": len(frame), "kind": manifest.kind,
            "period_start": manifest.period_start, "period_end": manifest.period_end,
            "data_docs": verdict.data_docs_path, "data_docs_page": verdict.data_docs_page}


def _reject(paths: PlatformPaths, contract: Contract, manifest_file: Path, verdict: dict, reason: str,
            kind: str) -> dict:
    batch_id = batch_id_of(manifest_file)
    folder = quarantine_batch(paths, contract.name, manifest_file, verdict, reason)
    append_event(paths.ledger, contract.name, "batch_quarantined", batch_id=batch_id, status=kind,
                 reason=reason, folder=str(folder))
    raise BatchRejected(f"batch {batch_id} quarantined ({kind}) in {folder}:\n{reason}", verdict)


def commit_validated_batch(paths: PlatformPaths, contract: Contract, validated: dict) -> dict:
    """Append the staged batch to the dataset as a new DVC data version; move the landing files aside."""
    batch_id = validated["batch_id"]
    staging = _staging_path(paths, contract.name, batch_id)
    frame = pd.read_parquet(staging)
    version = commit_batch(paths.data_repo, contract.name, batch_id, frame)
    processed = paths.processed / contract.name
    processed.mkdir(parents=True, exist_ok=True)
    manifest_file = Path(validated["manifest"])
    for path in (manifest_file.with_name(batch_id + ".csv"), manifest_file):
        if path.exists():
            os.replace(path, processed / path.name)
    staging.unlink(missing_ok=True)
    event = {"batch_id": batch_id, "rows": validated["rows"], "batch_kind": validated["kind"],
             "period_start": validated["period_start"], "period_end": validated["period_end"],
             "data_version": version.to_dict()}
    append_event(paths.ledger, contract.name, "batch_ingested", **event)
    return event
