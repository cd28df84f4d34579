"""From per-batch drift flags to one drift signal per real shift.

A batch is *drifted* when any of its checks fires (feature drift share, prediction drift, a significant
performance drop). A drift *signal* (which starts a retrain) needs more:

- debounce: at least ``k`` of the last ``m`` monitored batches since the last champion change are drifted;
- cooldown: no signal within ``cooldown_batches`` batches after the champion changed;
- merge: no new signal while an earlier one has not yet reached a gate decision (a retrain is queued or
  running); the batch is recorded as merged into the pending signal instead. A retrain that failed for good
  (``retrain_failed`` in the ledger) frees its signal at once; a signal whose retrain left no trace expires
  after ``pending_expiry_batches`` monitored batches, so one lost retrain cannot silence drift forever.

The decision reads only the ledger (what happened to earlier batches), so it is the same in a real
scheduler run, in ``dag.test()`` and in a re-run of the same batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.contract import DriftPolicy

REASON_ORDER = ("performance", "data_drift", "prediction_drift")


@dataclass(frozen=True)
class PolicyDecision:
    confirmed: bool
    reason: str | None
    explanation: str
    onset_batch: str | None = None
    onset_period_start: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _after_last(events: list[dict], kinds: set[str]) -> list[dict]:
    """Events after the last one whose kind is in ``kinds``."""
    for index in range(len(events) - 1, -1, -1):
        if events[index]["kind"] in kinds:
            return events[index + 1:]
    return events


def _monitored_since_change(events: list[dict]) -> list[dict]:
    recent = _after_last(events, {"champion_changed"})
    seen: dict[str, dict] = {}
    for event in recent:
        if event["kind"] == "batch_monitored":
            seen[event["batch_id"]] = event  # a re-run of a batch supersedes its earlier record
    return list(seen.values())


def _pending_signal(events: list[dict], expiry_batches: int) -> dict | None:
    """The last drift signal if neither a gate decision nor a retrain failure has followed it, and fewer than
    ``expiry_batches`` other batches were monitored since."""
    monitored_since: set[str] = set()
    for event in reversed(events):
        if event["kind"] in ("gate_decision", "retrain_failed"):
            return None
        if event["kind"] == "drift_signal":
            monitored_since.discard(event.get("batch_id"))
            return event if len(monitored_since) < expiry_batches else None
        if event["kind"] == "batch_monitored":
            monitored_since.add(event["batch_id"])
    return None


def _main_reason(reasons: list[str]) -> str:
    for reason in REASON_ORDER:
        if reason in reasons:
            return reason
    return reasons[0] if reasons else "data_drift"


def decide(policy: DriftPolicy, events: list[dict], current: dict) -> PolicyDecision:
    """Decide whether ``current`` (a ``batch_monitored`` record already in ``events``) confirms drift."""
    if not current.get("batch_drifted") and not current.get("no_champion"):
        return PolicyDecision(False, None, "batch not drifted")
    pending = _pending_signal(events, policy.pending_expiry_batches)
    if pending is not None and pending.get("batch_id") != current["batch_id"]:
        return PolicyDecision(False, None, f"merged into pending signal from batch {pending['batch_id']}")
    if current.get("no_champion"):
        return PolicyDecision(True, "bootstrap", "no champion yet: train the first model", current["batch_id"],
                              current.get("period_start"))
    monitored = _monitored_since_change(events)
    since_change = len(monitored)
    changed = any(e["kind"] == "champion_changed" for e in events)
    if changed and since_change <= policy.cooldown_batches:
        return PolicyDecision(False, None, f"cooldown: {since_change} of {policy.cooldown_batches} batches since "
                                           "the champion changed")
    window = monitored[-policy.debounce.m:]
    drifted = [e for e in window if e.get("batch_drifted")]
    if len(drifted) < policy.debounce.k:
        return PolicyDecision(False, None, f"debounce: {len(drifted)} of last {len(window)} batches drifted, "
                                           f"need {policy.debounce.k} of {policy.debounce.m}")
    onset = drifted[0]
    return PolicyDecision(True, _main_reason(current.get("reasons", [])),
                          f"{len(drifted)} of last {len(window)} batches drifted (need {policy.debounce.k} of "
                          f"{policy.debounce.m})", onset["batch_id"], onset.get("period_start"))
