"""Delayed labels: label files that land after their batch, checked against the rows they label, and joined.

With ``labels.arrive: delayed`` in a contract a batch may land without its target column. Its labels land
later, as their own file in ``landing/<contract>/labels/``: a CSV of the contract's label key (``labels.key``,
default the timestamp) and the target, then ``<batch_id>.manifest.json`` (kind ``labels``) written last, the
same manifest a batch has (:mod:`ml.data.batches`), so a half-written label file is never read. The ingest DAG's
sensor only scans the landing folder itself, so it never takes a label manifest for a batch.

:func:`check_label_file` judges one label file against the batch it labels, in stages that each name what to
fix: the file (manifest, checksum, CSV), its columns (exactly the key and the target), its values (the
contract's target expectations, no empty cell, no key twice: a Great Expectations suite derived from the
contract, :func:`ml.validation.build_label_suite`), and its keys against the batch's rows: every row labelled
exactly once, no label for a row that was never scored. :func:`join_labels` then puts the target into the
batch, in the batch's row order, which :func:`ml.data.versioning.commit_labels` stores as a new data version.

:func:`labelled_rows` is what training reads: rows whose label has not arrived are left out (and counted).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ml.contract import Contract
from ml.data.batches import BatchManifest, publish_batch

if TYPE_CHECKING:  # pandas stays out of import time: DAG files import this module while parsing
    import pandas as pd


logger = logging.getLogger(__name__)

LABELS_KIND = "labels"


def publish_labels(
    frame: pd.DataFrame,
    *,
    contract: Contract,
    landing: Path,
    batch_id: str,
    period_start: pd.Timestamp,
    period_end: pd.Timestamp,
    produced_at: pd.Timestamp,
    payload: bytes | None = None,
) -> BatchManifest:
    """Producer side: land the labels of batch ``batch_id`` (its key columns and target), manifest last."""
    return publish_batch(
        frame[contract.label_columns],
        contract=contract.name,
        landing=landing,
        batch_id=batch_id,
        period_start=period_start,
        period_end=period_end,
        produced_at=produced_at,
        kind=LABELS_KIND,
        payload=payload,
    )


def labelled_rows(frame: pd.DataFrame, contract: Contract) -> tuple[pd.DataFrame, int]:
    """The rows whose label has arrived, and how many rows were left out because theirs has not.

    A dataset read across batches holds the target as a column that is empty for batches whose labels are
    still to come (or lacks it when no batch has labels yet). Classification targets come back as integers.
    """
    target = contract.target
    if target not in frame.columns:
        return frame.iloc[0:0].assign(**{target: []}), len(frame)
    known = frame[target].notna()
    rows = frame.loc[known].reset_index(drop=True)
    if contract.target_domain is not None and not rows.empty:
        rows[target] = rows[target].astype("int64")  # a column with gaps is read as float
    return rows, int((~known).sum())


# ------------------------------------------------------------------------------------------------ checking


def join_labels(batch: pd.DataFrame, labels: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """``batch`` with its target from ``labels`` (checked by :func:`check_label_file`), rows in the batch's order."""
    target, key = contract.target, list(contract.label_key)
    keys = batch[key].apply(comparable_keys)
    # a left merge keeps the batch's row order; one_to_one: a key twice on either side is an error, not a guess
    matched = keys.merge(
        labels[key].apply(comparable_keys).assign(**{target: labels[target].to_numpy()}),
        on=key,
        how="left",
        validate="one_to_one",
    )
    joined = batch.drop(columns=[target], errors="ignore")
    joined[target] = matched[target].to_numpy()
    if joined[target].isna().any():
        raise ValueError(
            f"labels do not cover every row of the batch on {list(contract.label_key)}: check them "
            "with check_label_file first"
        )
    return joined[[c for c in contract.batch_columns if c in joined.columns]]


def labels_conflict(batch: pd.DataFrame, labels: pd.DataFrame, contract: Contract) -> int:
    """How many rows of a batch that already has its target would get another label from ``labels``."""
    target = contract.target
    if target not in batch.columns or batch[target].isna().all():
        return 0
    joined = join_labels(batch, labels, contract)
    before = batch[target].to_numpy(dtype="float64")
    return int((before != joined[target].to_numpy(dtype="float64")).sum())


def comparable_keys(series: pd.Series) -> pd.Series:
    import pandas as pd

    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    return series
