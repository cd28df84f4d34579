"""Confirmed drift signals waiting to become drift asset events, and the record that one was emitted.

The monitor (and anything else that applies the drift policy) writes ``drift_signal`` events to the ledger;
:class:`ct_platform.sensors.DriftSensor` waits for the oldest one not yet emitted, emits the contract's
``drift_signal`` asset event with it, and writes ``drift_signal_emitted``. Light imports only (the ledger and
the policy): the triggerer process polls this module.
"""

from __future__ import annotations

from pathlib import Path

from ml.drift.policy import unemitted_signals
from ml.ledger import EventKind, append_event, read_events

SIGNAL_KINDS = (EventKind.DRIFT_SIGNAL, EventKind.DRIFT_SIGNAL_EMITTED)
# Ledger bookkeeping that the asset event's extra does not need to carry.
_NOT_IN_EVENT = ("kind", "recorded_at")


def next_signal(ledger: Path, contract: str) -> dict | None:
    """The oldest confirmed drift signal of ``contract`` without an emitted asset event, as the event's extra."""
    pending = unemitted_signals(read_events(ledger, contract, SIGNAL_KINDS))
    if not pending:
        return None
    return {k: v for k, v in pending[0].items() if k not in _NOT_IN_EVENT}


def record_emitted(ledger: Path, contract: str, signal: dict, *, run_id: str | None = None) -> dict:
    """Record that ``signal``'s asset event was emitted, so no sensor emits it again."""
    return append_event(
        ledger,
        contract,
        EventKind.DRIFT_SIGNAL_EMITTED,
        signal_id=signal["signal_id"],
        batch_id=signal.get("batch_id"),
        reason=signal.get("reason"),
        run_id=run_id,
    )
