"""Quarantined batches: listing them, and releasing one after its producer fixed it.

A quarantined batch lives in ``quarantine/<contract>/<batch_id>/`` with its data file, its manifest,
``reason.md`` and ``verdict.json`` (written by :func:`quarantine_batch`). Releasing re-validates it
where it lies (the files may have been replaced by a fixed copy, with a matching manifest); only a batch that
now passes goes back to landing, manifest last, where the ingest DAG picks it up like any new batch. A rejected
label file lives in ``quarantine/<contract>/labels-<batch_id>/`` the same way; releasing it re-checks it against
its batch and hands it back to ``landing/<contract>/labels/`` for the labels DAG.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ml.contract import Contract
from ml.data.batches import MANIFEST_SUFFIX, BatchManifest, batch_id_of, move_landed
from ml.data.labels import LABELS_KIND
from ml.files import atomic_write_json
from ml.settings import PlatformPaths


class QuarantineError(ValueError):
    """No such quarantined batch, or its folder is incomplete."""


@dataclass(frozen=True)
class QuarantinedBatch:
    batch_id: str
    folder: Path
    status: str
    reason: str


def list_quarantined(paths: PlatformPaths, contract: str) -> list[QuarantinedBatch]:
    root = paths.quarantine_for(contract)
    found = []
    for folder in sorted(p for p in root.glob("*") if p.is_dir() and not p.name.startswith(".")):
        verdict_file = folder / "verdict.json"
        verdict = json.loads(verdict_file.read_text()) if verdict_file.exists() else {}
        reason = (folder / "reason.md").read_text() if (folder / "reason.md").exists() else ""
        first = next((line for line in reason.splitlines()[2:] if line.strip()), "")
        found.append(QuarantinedBatch(folder.name, folder, verdict.get("status", "unknown"), first))
    return found


def release(paths: PlatformPaths, contract: Contract, folder_name: str) -> tuple[bool, str]:
    """Re-validate a quarantined batch; if it passes, hand it back to landing. Returns (released, message)."""
    from ml.validation.batch import validate_batch

    folder = paths.quarantine_for(contract.name) / folder_name
    manifests = list(folder.glob(f"*{MANIFEST_SUFFIX}")) if folder.is_dir() else []
    if not manifests:
        known = ", ".join(b.batch_id for b in list_quarantined(paths, contract.name)) or "none"
        raise QuarantineError(
            f"no quarantined batch {folder_name!r} with a manifest for {contract.name}; quarantined: {known}"
        )
    manifest_path = manifests[0]
    manifest = BatchManifest.read(manifest_path)
    if manifest.kind == LABELS_KIND:
        return _release_labels(paths, contract, folder, manifest_path, manifest)
    verdict, _ = validate_batch(manifest.data_path(folder), manifest, contract)
    if not verdict.passed:
        atomic_write_json(folder / "verdict.json", verdict.to_dict())
        return False, f"batch {manifest.batch_id} still fails its contract:\n{verdict.reason()}"
    landing = paths.landing_for(contract.name)
    move_landed(manifest_path, landing)  # the manifest last: now it is a batch again
    released = paths.quarantine_for(contract.name) / ".released" / folder_name
    released.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(folder), str(released))  # keep the reason and old verdict for the record
    return True, f"batch {manifest.batch_id} passes now and is back in {landing}; the ingest DAG will take it"


def _release_labels(
    paths: PlatformPaths, contract: Contract, folder: Path, manifest_path: Path, manifest: BatchManifest
) -> tuple[bool, str]:
    """A quarantined label file: re-checked against its batch as it is now in the dataset, then back to
    ``landing/<contract>/labels/`` for the labels DAG."""
    from ml.data.versioning import committed_batches, current_version, read_batch
    from ml.validation.labels import check_label_file, label_reason

    batch_id = manifest.batch_id
    if batch_id not in committed_batches(paths.data_repo, contract.name):
        return False, (
            f"labels of batch {batch_id} still have no batch: no batch {batch_id!r} is in the "
            f"{contract.name} dataset; land (or release) the batch first"
        )
    batch = read_batch(paths.data_repo, contract.name, batch_id, current_version(paths.data_repo, contract.name).rev)
    verdict, _ = check_label_file(manifest.data_path(folder), manifest, contract, batch)
    if not verdict.passed:
        atomic_write_json(folder / "verdict.json", verdict.to_dict())
        return False, f"labels of batch {batch_id} still fail their checks:\n{label_reason(verdict)}"
    landing = paths.labels_landing(contract.name)
    move_landed(manifest_path, landing)  # the manifest last
    released = paths.quarantine_for(contract.name) / ".released" / folder.name
    released.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(folder), str(released))
    return True, f"labels of batch {batch_id} pass now and are back in {landing}; the labels DAG will take them"


def quarantine_batch(
    paths: PlatformPaths,
    contract: str,
    manifest_path: Path,
    verdict: dict,
    reason: str,
    *,
    folder_name: str | None = None,
    title: str | None = None,
) -> Path:
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
    (temp / "reason.md").write_text(
        f"# {title or f'Batch {batch_id}'} quarantined\n\n{reason}\n\n"
        f"Release it after fixing the producer with `ct quarantine release {name}`.\n"
    )
    atomic_write_json(temp / "verdict.json", verdict)
    move_landed(manifest_path, temp)
    target, attempt = root / name, 1
    while target.exists():
        attempt += 1
        target = root / f"{name}.{attempt}"
    os.replace(temp, target)
    return target


def quarantine_folder_name(batch_id: str) -> str:
    """The quarantine folder of a batch's rejected label file (beside, never in, the batch's own)."""
    return f"labels-{batch_id}"
