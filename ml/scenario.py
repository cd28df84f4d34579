"""Scenarios: replaying a contract's history into the landing folder the way a producer would.

A scenario names a bootstrap window (landed as one backfill batch), a replay window (landed one batch
period at a time, each batch produced the day after its period ends) and optional corrupt batches. The
replayer only writes files into landing; everything after that is the platform's ordinary path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from ml.batches import BatchManifest, publish_batch
from ml.contract import Contract, ContractError


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


class Scenario(_Strict):
    contract: str
    bootstrap: Window | None = None
    replay: Window
    corruptions: tuple[Corruption, ...] = ()


def load_scenario(path: Path | str) -> Scenario:
    path = Path(path)
    try:
        return Scenario.model_validate(yaml.safe_load(path.read_text()))
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise ContractError(f"invalid scenario {path}: {error}") from None


@dataclass(frozen=True)
class PlannedBatch:
    batch_id: str
    frame: pd.DataFrame
    period_start: pd.Timestamp
    period_end: pd.Timestamp
    kind: str = "batch"
    payload: bytes | None = None


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
        raise ContractError(f"unknown corruption kind {corruption.kind!r}: number_to_string, missing_column, "
                            "out_of_range")
    return broken.to_csv(index=False).encode()


def plan_batches(scenario: Scenario, contract: Contract, source: pd.DataFrame) -> Iterator[PlannedBatch]:
    """The batches of a scenario in landing order."""
    stamps = source[contract.timestamp]
    if scenario.bootstrap:
        start, end = _utc(scenario.bootstrap.start), _utc(scenario.bootstrap.end)
        rows = source[(stamps >= start) & (stamps < end)]
        yield PlannedBatch(f"backfill-{start:%Y%m%d}-{end:%Y%m%d}", rows, start, end, kind="backfill")
    start, end = _utc(scenario.replay.start), _utc(scenario.replay.end)
    # date_range snaps to the period's anchor; keep the window's own ends so no row is dropped
    bounds = pd.DatetimeIndex(sorted({start, end, *pd.date_range(start, end, freq=contract.batch.period)}))
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        rows = source[(stamps >= start) & (stamps < end)]
        label = _batch_label(start, contract.batch.period)
        yield PlannedBatch(label, rows, start, end)
        for corruption in scenario.corruptions:
            if corruption.after == label:
                yield PlannedBatch(corruption.batch_id, rows, start, end, payload=_corrupt(rows, corruption))


def land(batch: PlannedBatch, contract: Contract, landing: Path) -> BatchManifest:
    """Write one planned batch into the landing folder, produced the day after its period ends."""
    return publish_batch(batch.frame, contract=contract.name, landing=landing, batch_id=batch.batch_id,
                         period_start=batch.period_start, period_end=batch.period_end,
                         produced_at=batch.period_end + pd.Timedelta("1D"), kind=batch.kind, payload=batch.payload)
