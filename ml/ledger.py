"""The platform's own event log, one JSON line per event, per contract.

Airflow's metadata DB knows runs and tasks; the ledger knows what they meant for the dataset: batch
ingested or quarantined, drift seen, retrain decided, champion changed. Drift debouncing reads it, the
demo's live progress reads it, and ``ct simulate`` builds its report from it. Appends are serialised
with an advisory file lock so concurrent tasks never interleave lines.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path


class EventKind(StrEnum):
    """Every kind of ledger event, declared once. The values are what the ledger files hold (a StrEnum member
    compares and serialises as its string), so ledgers written before this class existed read the same."""

    BATCH_INGESTED = "batch_ingested"
    BATCH_QUARANTINED = "batch_quarantined"
    BATCH_MONITORED = "batch_monitored"  # read by the drift policy: ml.drift.records.MonitoredBatch
    LABELS_INGESTED = "labels_ingested"
    LABELS_QUARANTINED = "labels_quarantined"
    DRIFT_DECIDED = "drift_decided"
    DRIFT_SIGNAL = "drift_signal"  # ml.drift.records.DriftSignal
    DRIFT_SIGNAL_EMITTED = "drift_signal_emitted"
    GATE_DECISION = "gate_decision"
    APPROVAL = "approval"
    CHAMPION_CHANGED = "champion_changed"
    RETRAIN_FAILED = "retrain_failed"
    FRESHNESS_ALERT = "freshness_alert"


class LedgerError(ValueError):
    """An event of a kind the ledger does not declare."""


def ledger_path(ledger_dir: Path, contract: str) -> Path:
    return ledger_dir / f"{contract}.jsonl"


def append_event(ledger_dir: Path, contract: str, kind: EventKind | str, /, **fields) -> dict:
    """Append one event; ``recorded_at`` is the wall clock (for people), never used for decisions."""
    if kind not in EventKind._value2member_map_:
        raise LedgerError(
            f"unknown ledger event kind {kind!r}: declare it in ml.ledger.EventKind (known: {', '.join(EventKind)})"
        )
    event = {**fields, "kind": str(kind), "contract": contract, "recorded_at": datetime.now(UTC).isoformat()}
    path = ledger_path(ledger_dir, contract)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(event, sort_keys=True, default=str) + "\n"
    with path.open("a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if path.stat().st_size > 0 and not _ends_with_newline(path):
                line = "\n" + line  # a torn last line must not swallow this event
            handle.write(line)
            handle.flush()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return event


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1) == b"\n"


def read_events(ledger_dir: Path, contract: str, kinds: Iterable[str] | None = None) -> list[dict]:
    """All events of a contract in append order, optionally only some kinds. Torn last lines are skipped."""
    path = ledger_path(ledger_dir, contract)
    if not path.exists():
        return []
    wanted = set(kinds) if kinds is not None else None
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if wanted is None or event.get("kind") in wanted:
            events.append(event)
    return events


def latest_by_batch(events: list[dict]) -> dict[str, dict]:
    """The last event per batch id: re-runs of a task for the same batch supersede earlier ones."""
    latest: dict[str, dict] = {}
    for event in events:
        if "batch_id" in event:
            latest[event["batch_id"]] = event
    return latest
