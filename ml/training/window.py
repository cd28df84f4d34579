"""The training window: a data version and the rows to learn from and to judge on (the newest: out-of-time)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields

import pandas as pd

from ml.contract import Contract
from ml.data.labels import labelled_rows
from ml.data.versioning import (
    DataVersionError,
    committed_batches,
    current_version,
    pointer_md5,
    read_dataset,
    resolve_rev,
)
from ml.drift.records import DriftSignal
from ml.settings import PlatformPaths

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowSpan:
    """Which rows of a data version a model learnt from and was judged on: [start, holdout_start) and
    [holdout_start, end]. All a model version's tags need to give its rows back (``ct reproduce``, reports)."""

    data_rev: str
    start: str
    end: str
    holdout_start: str

    @classmethod
    def from_tags(cls, tags: dict[str, str], prefix: str = "") -> WindowSpan:
        """The span recorded in a version's tags (``prefix`` ``"ct."`` for raw MLflow tags)."""
        return cls(
            data_rev=tags[prefix + "holdout_rev"],
            start=tags[prefix + "window_start"],
            end=tags[prefix + "window_end"],
            holdout_start=tags[prefix + "holdout_start"],
        )

    TAG_NAMES = ("holdout_rev", "window_start", "window_end", "holdout_start")


@dataclass(frozen=True)
class TrainingWindow:
    """A retrain's pinned training window: the data version, its rows, and the out-of-time holdout."""

    data_rev: str
    md5: str
    batches: int
    start: str
    end: str
    rows: int
    holdout_start: str
    holdout_rows: int
    how: str
    reason: str
    signal_batch: str | None = None
    unlabelled_rows: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainingWindow:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def span(self) -> WindowSpan:
        return WindowSpan(self.data_rev, self.start, self.end, self.holdout_start)

    def bundle_tags(self, train_rows: int, holdout_rows: int) -> dict[str, str]:
        """The window's part of a version's release bundle (unprefixed; MLflow tags are strings). The only place
        the window becomes tags; :meth:`WindowSpan.from_tags` reads them back."""
        return {
            "data_rev": self.data_rev,
            "data_md5": self.md5,
            "data_batches": str(self.batches),
            "holdout_rev": self.data_rev,
            "window_start": self.start,
            "window_end": self.end,
            "window_rows": str(train_rows),
            "holdout_start": self.holdout_start,
            "holdout_rows": str(holdout_rows),
        }


def _labelled_dataset(paths: PlatformPaths, contract: Contract, rev: str) -> tuple[pd.DataFrame, int]:
    """The dataset at ``rev``, only rows whose labels have arrived (labels.arrive: delayed), and how many were not."""
    frame = read_dataset(paths.data_repo, contract.name, rev, order_by=contract.timestamp, cache_dir=paths.cache)
    return labelled_rows(frame, contract)


def _window_rows(frame: pd.DataFrame, contract: Contract, signal: DriftSignal) -> tuple[pd.DataFrame, str]:
    window = contract.training.window
    onset = signal.onset_period_start
    if window.mode == "since_drift_onset" and onset and signal.reason not in ("bootstrap", "manual"):
        since = frame[frame[contract.timestamp] >= pd.Timestamp(onset)]
        if len(since) >= window.min_rows:
            return since.tail(window.max_rows), f"since drift onset {onset}"
        logger.warning(
            "only %d rows since drift onset %s (< %d); using the most recent rows", len(since), onset, window.min_rows
        )
    return frame.tail(window.max_rows), "most recent rows"


def pin_training_window(
    paths: PlatformPaths, contract: Contract, signal: DriftSignal, data_rev: str | None = None
) -> TrainingWindow:
    """Choose the data version and the rows to learn from and to judge on (the newest rows: out-of-time)."""
    version = current_version(paths.data_repo, contract.name)
    if version is None:
        raise DataVersionError(f"no data version for {contract.name} yet: ingest a batch first")
    rev = resolve_rev(paths.data_repo, data_rev) if data_rev else version.rev
    frame, unlabelled = _labelled_dataset(paths, contract, rev)
    if unlabelled:
        logger.info("training window: %d rows whose labels have not arrived yet are left out", unlabelled)
    if frame.empty:
        raise DataVersionError(
            f"no labelled rows in {contract.name} at revision {rev[:10]} ({unlabelled} rows wait "
            "for their labels): a retrain needs labels; wait for the label files"
        )
    rows, how = _window_rows(frame, contract, signal)
    holdout_rows = max(int(round(len(rows) * contract.gate.holdout.fraction)), contract.gate.holdout.min_rows)
    if holdout_rows >= len(rows):
        raise DataVersionError(
            f"window of {len(rows)} rows cannot hold a {holdout_rows}-row holdout; lower "
            "gate.holdout.min_rows or wait for more batches"
        )
    holdout_start = rows[contract.timestamp].iloc[len(rows) - holdout_rows]
    md5 = version.md5 if rev == version.rev else pointer_md5(paths.data_repo, contract.name, rev)
    window = TrainingWindow(
        data_rev=rev,
        md5=md5,
        batches=len(committed_batches(paths.data_repo, contract.name, rev)),
        start=rows[contract.timestamp].iloc[0].isoformat(),
        end=rows[contract.timestamp].iloc[-1].isoformat(),
        rows=len(rows),
        holdout_start=holdout_start.isoformat(),
        holdout_rows=holdout_rows,
        how=how,
        reason=signal.reason,
        signal_batch=signal.batch_id,
        unlabelled_rows=unlabelled,
    )
    logger.info("training window: %s", window)
    return window


def split_window(
    frame: pd.DataFrame, timestamp: str, window: WindowSpan | TrainingWindow
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, holdout) of a pinned window: rows in [start, end], the holdout from ``holdout_start``."""
    stamps = frame[timestamp]
    in_window = frame[(stamps >= pd.Timestamp(window.start)) & (stamps <= pd.Timestamp(window.end))]
    holdout_from = pd.Timestamp(window.holdout_start)
    return in_window[in_window[timestamp] < holdout_from], in_window[in_window[timestamp] >= holdout_from]


def read_window(
    paths: PlatformPaths, contract: Contract, window: WindowSpan | TrainingWindow
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A retrain window's (train, holdout) labelled rows at its ``data_rev``, as the retrain used them."""
    rows, _ = _labelled_dataset(paths, contract, window.data_rev)
    return split_window(rows, contract.timestamp, window)
