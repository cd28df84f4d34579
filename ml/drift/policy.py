"""From per-batch drift flags to one drift signal per real shift.

A batch is *drifted* when any of its checks fires (feature drift share, prediction drift, a significant
performance drop). A drift *signal* (which starts a retrain) needs more:

- debounce: at least ``k`` of the last ``m`` monitored batches since the last retrain decision (a champion
  change, or a retrain whose challenger was rejected) are drifted; a batch a retrain already answered never
  counts towards the next signal;
- cooldown: no signal within ``cooldown_batches`` batches after a retrain decision, promoted or rejected;
- acknowledged columns: when a retrain started by feature or prediction drift ends without a new champion (the
  gate or a person rejected the challenger), the champion held up on the shifted data, so the columns that
  drifted are acknowledged until the champion next changes. A later batch whose only drift is in acknowledged
  columns does not count as drifted; a new column, or a performance drop, does. This is what keeps one lasting
  shift from starting a retrain every few batches when retraining does not beat the champion;
- merge: no new signal while an earlier one has not yet reached a gate decision (a retrain is queued or
  running); the batch is recorded as merged into the pending signal instead. A retrain that failed for good
  (``retrain_failed`` in the ledger) frees its signal at once; a signal whose retrain left no trace expires
  after ``pending_expiry_batches`` monitored batches, so one lost retrain cannot silence drift forever.

Every confirmed signal gets a ``signal_id``; :func:`unemitted_signals` lists those that no
``drift_signal_emitted`` event has answered yet, which is what :class:`ct_platform.sensors.DriftSensor`
waits for before it emits the drift asset event.

The decision reads only the ledger (what happened to earlier batches), so it is the same in a real
scheduler run, in ``dag.test()`` and in a re-run of the same batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.contract import DriftPolicy
from ml.drift.records import DriftSignal, MonitoredBatch
from ml.ledger import EventKind

REASON_ORDER = ("performance", "data_drift", "prediction_drift")
# Reasons whose drifted columns a rejected retrain acknowledges (a performance drop is never acknowledged).
COLUMN_REASONS = frozenset({"data_drift", "prediction_drift"})


@dataclass(frozen=True)
class PolicyDecision:
    confirmed: bool
    reason: str | None
    explanation: str
    onset_batch: str | None = None
    onset_period_start: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _last_index(events: list[dict], matches) -> int | None:
    """Index of the last event for which ``matches(event)`` holds, if any."""
    for index in range(len(events) - 1, -1, -1):
        if matches(events[index]):
            return index
    return None


def _after_last(events: list[dict], kinds: set[str]) -> list[dict]:
    """Events after the last one whose kind is in ``kinds``."""
    index = _last_index(events, lambda event: event["kind"] in kinds)
    return events if index is None else events[index + 1 :]


def _rejected(event: dict) -> bool:
    """A retrain that ended without a new champion: the gate rejected, or a person rejected or did not answer."""
    if event["kind"] == EventKind.GATE_DECISION:
        return event.get("decision") != "promote"
    return event["kind"] == EventKind.APPROVAL and event.get("outcome") != "approved"


def _last_decision(events: list[dict]) -> int | None:
    """Index of the last retrain decision (champion change or rejected retrain), if any."""
    return _last_index(events, lambda event: event["kind"] == EventKind.CHAMPION_CHANGED or _rejected(event))


def _monitored_since(events: list[dict], start: int) -> list[MonitoredBatch]:
    """The latest record of each batch first monitored at or after ``start``, in the order batches arrived.

    A later record of a batch (a re-run, or its labels arriving) supersedes the earlier one in place, and a batch
    belongs to the period it was first monitored in: labels of an older batch do not count as a new batch.
    """
    first_seen: dict[str, int] = {}
    latest: dict[str, dict] = {}
    for index, event in enumerate(events):
        if event["kind"] == EventKind.BATCH_MONITORED:
            first_seen.setdefault(event["batch_id"], index)
            latest[event["batch_id"]] = event
    return [MonitoredBatch.from_dict(latest[batch]) for batch, index in first_seen.items() if index >= start]


def acknowledged_columns(events: list[dict]) -> set[str]:
    """Columns whose drift a rejected retrain answered since the champion last changed."""
    acknowledged: set[str] = set()
    last_signal = None
    for event in _after_last(events, {EventKind.CHAMPION_CHANGED}):
        if event["kind"] == EventKind.DRIFT_SIGNAL:
            last_signal = DriftSignal.from_dict(event)
        elif _rejected(event) and last_signal is not None and last_signal.reason in COLUMN_REASONS:
            acknowledged |= last_signal.columns
    return acknowledged


def counts_as_drifted(monitored: MonitoredBatch, acknowledged: set[str]) -> bool:
    """Is this batch drifted, once drift in acknowledged columns is discounted?"""
    if not monitored.batch_drifted:
        return False
    if not acknowledged or set(monitored.reasons) - COLUMN_REASONS:
        return True  # no acknowledged columns, or a performance drop (never acknowledged)
    return bool(monitored.columns - acknowledged)


def _pending_signal(events: list[dict], expiry_batches: int) -> DriftSignal | None:
    """The last drift signal if neither a gate decision nor a retrain failure has followed it, and fewer than
    ``expiry_batches`` other batches were first monitored since (labels of older batches do not count)."""
    for index in range(len(events) - 1, -1, -1):
        kind = events[index]["kind"]
        if kind in (EventKind.GATE_DECISION, EventKind.RETRAIN_FAILED):
            return None
        if kind == EventKind.DRIFT_SIGNAL:
            signal = DriftSignal.from_dict(events[index])
            newer = [e for e in _monitored_since(events, index + 1) if e.batch_id != signal.batch_id]
            return signal if len(newer) < expiry_batches else None
    return None


def _main_reason(reasons: tuple[str, ...]) -> str:
    for reason in REASON_ORDER:
        if reason in reasons:
            return reason
    return reasons[0] if reasons else "data_drift"


def decide(policy: DriftPolicy, events: list[dict], current: MonitoredBatch) -> PolicyDecision:
    """Decide whether ``current`` (a ``batch_monitored`` record already in ``events``) confirms drift."""
    if not current.batch_drifted and not current.no_champion:
        return PolicyDecision(False, None, "batch not drifted")
    pending = _pending_signal(events, policy.pending_expiry_batches)
    if pending is not None and pending.batch_id != current.batch_id:
        return PolicyDecision(False, None, f"merged into pending signal from batch {pending.batch_id}")
    if current.no_champion:
        return PolicyDecision(
            True, "bootstrap", "no champion yet: train the first model", current.batch_id, current.period_start
        )
    acknowledged = acknowledged_columns(events)
    if not counts_as_drifted(current, acknowledged):
        return PolicyDecision(
            False,
            None,
            f"only acknowledged columns drifted ({', '.join(sorted(acknowledged))}): "
            "a rejected retrain already answered that shift",
        )
    decision = _last_decision(events)
    monitored = _monitored_since(events, 0 if decision is None else decision + 1)
    since_decision = len(monitored)
    if decision is not None and since_decision <= policy.cooldown_batches:
        return PolicyDecision(
            False,
            None,
            f"cooldown: {since_decision} of {policy.cooldown_batches} batches since the last retrain decision",
        )
    window = monitored[-policy.debounce.m :]
    drifted = [e for e in window if counts_as_drifted(e, acknowledged)]
    if len(drifted) < policy.debounce.k:
        return PolicyDecision(
            False,
            None,
            f"debounce: {len(drifted)} of last {len(window)} batches drifted, "
            f"need {policy.debounce.k} of {policy.debounce.m}",
        )
    onset = drifted[0]
    return PolicyDecision(
        True,
        _main_reason(current.reasons),
        f"{len(drifted)} of last {len(window)} batches drifted (need {policy.debounce.k} of {policy.debounce.m})",
        onset.batch_id,
        onset.period_start,
    )


def unemitted_signals(events: list[dict]) -> list[dict]:
    """Confirmed drift signals, oldest first, for which no drift asset event has been emitted yet.

    Signals recorded before signals had ids (``signal_id``) count as emitted: the monitor emitted their asset
    events itself then, so a drift sensor must not start their retrains again.
    """
    emitted = {e.get("signal_id") for e in events if e["kind"] == EventKind.DRIFT_SIGNAL_EMITTED}
    return [
        e
        for e in events
        if e["kind"] == EventKind.DRIFT_SIGNAL and e.get("signal_id") and e["signal_id"] not in emitted
    ]
