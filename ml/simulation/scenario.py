"""Scenarios: replaying a contract's history into the landing folder the way a producer would.

A scenario names a bootstrap window (landed as one backfill batch), a replay window (landed one batch
period at a time, each batch produced the day after its period ends) and optional corrupt batches. The
replayer only writes files into landing; everything after that is the platform's ordinary path.

With ``labels: {delay_batches: N}`` (for a contract with ``labels.arrive: delayed``) every replayed batch lands
without its target column, and its labels land as their own file (``landing/<contract>/labels/``) right after
the N-th batch that follows it (N = 0: right after the batch itself); labels still due when the replay ends
land at the end. The backfill is labelled history and keeps its target.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ml.contract import Contract, ContractError
from ml.data.batches import BatchManifest, publish_batch
from ml.data.labels import LABELS_KIND, publish_labels
from ml.settings import LABELS_DIR


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Strict):
    start: str
    end: str


class Corruption(_Strict):
    after: str
    batch_id: str
    kind: str
    column: str | None = None


class LabelDelay(_Strict):
    """Labels of each replayed batch land after the next ``delay_batches`` batches (0: right after it)."""

    delay_batches: Annotated[int, Field(ge=0)] = 1


class Scenario(_Strict):
    contract: str
    bootstrap: Window | None = None
    replay: Window
    corruptions: tuple[Corruption, ...] = ()
    labels: LabelDelay | None = None  # None: labels inside each batch


def load_scenario(path: Path | str) -> Scenario:
    path = Path(path)
    try:
        return Scenario.model_validate(yaml.safe_load(path.read_text()))
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise ContractError(f"invalid scenario {path}: {error}") from None


@dataclass(frozen=True)
class PlannedBatch:
    """One landing: a batch (kind ``batch`` or ``backfill``), or a batch's labels (kind ``labels``)."""

    batch_id: str
    frame: pd.DataFrame
    period_start: pd.Timestamp
    period_end: pd.Timestamp
    kind: str = "batch"
    payload: bytes | None = None
    produced_at: pd.Timestamp | None = None  # None: the day after the period ends

    @property
    def produced(self) -> pd.Timestamp:
        return self.produced_at if self.produced_at is not None else self.period_end + pd.Timedelta("1D")


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _batch_label(start: pd.Timestamp, period: str) -> str:
    if period.endswith("YS"):
        return f"{start:%Y}"
    if period.endswith(("MS", "QS")):
        return f"{start:%Y-%m}"
    return f"{start:%Y-%m-%d}"


def _corrupt(frame: pd.DataFrame, corruption: Corruption) -> bytes:
    """Bytes of a deliberately broken batch: the producer bugs the validation is there to catch."""
    broken = frame.copy()
    if corruption.kind == "number_to_string":
        broken[corruption.column] = broken[corruption.column].map(lambda v: f"{v:.3f} sd")
    elif corruption.kind == "missing_column":
        broken = broken.drop(columns=[corruption.column])
    elif corruption.kind == "out_of_range":
        broken[corruption.column] = broken[corruption.column] * 100
    else:
        raise ContractError(
            f"unknown corruption kind {corruption.kind!r}: number_to_string, missing_column, out_of_range"
        )
    return broken.to_csv(index=False).encode()


def plan_batches(scenario: Scenario, contract: Contract, source: pd.DataFrame) -> Iterator[PlannedBatch]:
    """The landings of a scenario in order: batches, and with ``scenario.labels`` their delayed labels."""
    if scenario.labels is not None and not contract.labels_delayed:
        raise ContractError(
            f"scenario delays labels (labels.delay_batches) but contract {contract.name!r} expects "
            "them inside each batch: set `labels: {arrive: delayed}` in the contract"
        )
    stamps = source[contract.timestamp]
    if scenario.bootstrap:
        start, end = _utc(scenario.bootstrap.start), _utc(scenario.bootstrap.end)
        rows = source[(stamps >= start) & (stamps < end)]
        yield PlannedBatch(f"backfill-{start:%Y%m%d}-{end:%Y%m%d}", rows, start, end, kind="backfill")
    due: list[tuple[int, PlannedBatch]] = []  # (index of the batch after which they land, labels)
    for index, batch in enumerate(_replay_batches(scenario, contract, source)):
        if scenario.labels is not None:
            due.append((index + scenario.labels.delay_batches, _labels_of(batch, contract)))
            batch = replace(batch, frame=batch.frame.drop(columns=[contract.target]))
        yield batch
        yield from _corruptions(scenario, batch)
        yield from (replace(labels, produced_at=batch.produced) for after, labels in due if after <= index)
        due = [(after, labels) for after, labels in due if after > index]
    yield from (labels for _, labels in due)


def _replay_batches(scenario: Scenario, contract: Contract, source: pd.DataFrame) -> Iterator[PlannedBatch]:
    stamps = source[contract.timestamp]
    start, end = _utc(scenario.replay.start), _utc(scenario.replay.end)
    # date_range snaps to the period's anchor; keep the window's own ends so no row is dropped
    bounds = pd.DatetimeIndex(sorted({start, end, *pd.date_range(start, end, freq=contract.batch.period)}))
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        rows = source[(stamps >= start) & (stamps < end)]
        yield PlannedBatch(_batch_label(start, contract.batch.period), rows, start, end)


def _corruptions(scenario: Scenario, batch: PlannedBatch) -> Iterator[PlannedBatch]:
    for corruption in scenario.corruptions:
        if corruption.after == batch.batch_id:
            yield PlannedBatch(
                corruption.batch_id,
                batch.frame,
                batch.period_start,
                batch.period_end,
                payload=_corrupt(batch.frame, corruption),
            )


def _labels_of(batch: PlannedBatch, contract: Contract) -> PlannedBatch:
    return replace(batch, frame=batch.frame[contract.label_columns], kind=LABELS_KIND)


def land(batch: PlannedBatch, contract: Contract, landing: Path) -> BatchManifest:
    """Write one planned landing into the contract's ``landing`` folder (labels into its ``labels/`` folder)."""
    if batch.kind == LABELS_KIND:
        return publish_labels(
            batch.frame,
            contract=contract,
            landing=landing / LABELS_DIR,
            batch_id=batch.batch_id,
            period_start=batch.period_start,
            period_end=batch.period_end,
            produced_at=batch.produced,
            payload=batch.payload,
        )
    return publish_batch(
        batch.frame,
        contract=contract.name,
        landing=landing,
        batch_id=batch.batch_id,
        period_start=batch.period_start,
        period_end=batch.period_end,
        produced_at=batch.produced,
        kind=batch.kind,
        payload=batch.payload,
    )
