"""Batches as they land: a data file plus a manifest written last.

A producer writes the data file, then ``<batch_id>.manifest.json`` naming it with its SHA-256, row count,
the period it covers and when it was produced. The manifest is written last and atomically, so a consumer
never sees a half-written batch: a data file without a manifest is not a batch yet (the pattern of Hadoop's
``_SUCCESS`` markers and of most object-store feeds). ``produced_at`` is the producer's clock; freshness is
judged against it, so a replay of history validates exactly as a live feed would.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ml.files import atomic_write_bytes, atomic_write_json, file_sha256

if TYPE_CHECKING:  # pandas stays out of import time: the landing sensor imports this module while DAGs parse
    import pandas as pd

MANIFEST_SUFFIX = ".manifest.json"


class BatchError(ValueError):
    """A manifest or batch file is missing or malformed."""


@dataclass(frozen=True)
class BatchManifest:
    """What a producer declares about one batch."""

    batch_id: str
    contract: str
    file: str
    sha256: str
    rows: int
    period_start: str
    period_end: str
    produced_at: str
    format: str = "csv"
    kind: str = "batch"  # "batch" for the live stream, "backfill" for an initial window

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def read(cls, path: Path) -> BatchManifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as error:  # ValueError covers JSON and UTF-8 decoding
            message = f"manifest {path} is unreadable or malformed ({error}); the producer must rewrite it"
            raise BatchError(message) from None

    def data_path(self, folder: Path) -> Path:
        return folder / self.file


def publish_batch(
    frame: pd.DataFrame,
    *,
    contract: str,
    landing: Path,
    batch_id: str,
    period_start: pd.Timestamp,
    period_end: pd.Timestamp,
    produced_at: pd.Timestamp,
    kind: str = "batch",
    payload: bytes | None = None,
) -> BatchManifest:
    """Producer side: land ``frame`` (or raw ``payload`` bytes) as a CSV batch, then its manifest."""
    data_path = landing / f"{batch_id}.csv"
    atomic_write_bytes(data_path, payload if payload is not None else frame.to_csv(index=False).encode())
    manifest = BatchManifest(
        batch_id=batch_id,
        contract=contract,
        file=data_path.name,
        sha256=file_sha256(data_path),
        rows=len(frame),
        period_start=period_start.isoformat(),
        period_end=period_end.isoformat(),
        produced_at=produced_at.isoformat(),
        kind=kind,
    )
    atomic_write_json(landing / f"{batch_id}{MANIFEST_SUFFIX}", manifest.to_dict())
    return manifest


def landed_files(manifest_path: Path) -> list[Path]:
    """A landed batch's files that exist, the manifest last: its data file as the manifest names it (or, when the
    manifest cannot be read, ``<batch_id>.csv`` beside it, the name producers use)."""
    try:
        data = BatchManifest.read(manifest_path).data_path(manifest_path.parent)
    except BatchError:
        data = manifest_path.with_name(batch_id_of(manifest_path) + ".csv")
    return [path for path in (data, manifest_path) if path.exists()]


def move_landed(manifest_path: Path, folder: Path) -> list[Path]:
    """Move a landed batch's files into ``folder`` (data file first, manifest last: a crash in between leaves no
    manifest without its data in either place); the one move from landing to processed or quarantine."""
    folder.mkdir(parents=True, exist_ok=True)
    moved = []
    for path in landed_files(manifest_path):
        os.replace(path, folder / path.name)
        moved.append(folder / path.name)
    return moved


def ready_manifests(landing: Path) -> list[Path]:
    """Manifests waiting in ``landing``, oldest production time first (ties by batch id)."""
    if not landing.is_dir():
        return []
    paths = list(landing.glob(f"*{MANIFEST_SUFFIX}"))

    def order(path: Path) -> tuple[float, str]:
        try:
            produced = datetime.fromisoformat(BatchManifest.read(path).produced_at)
        except (BatchError, ValueError):
            return (float("-inf"), path.name)  # malformed manifests first, so they are quarantined, not stuck
        if produced.tzinfo is None:
            produced = produced.replace(tzinfo=UTC)
        return (produced.timestamp(), path.name)  # instants, not strings: offsets may differ

    return sorted(paths, key=order)


def batch_id_of(manifest_path: Path) -> str:
    return manifest_path.name.removesuffix(MANIFEST_SUFFIX)
