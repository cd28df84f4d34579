"""Drift policy: from per-batch drift flags to one signal per real shift, over synthetic ledgers."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ml.contract import DebounceSpec, DriftPolicy
from ml.drift.policy import PolicyDecision, decide
from ml.drift.records import MonitoredBatch

# The weather contract's settings: 2 of the last 3 batches, no signal for 2 batches after a champion change.
POLICY = DriftPolicy(debounce=DebounceSpec(k=2, m=3), cooldown_batches=2)


def mon(batch_id: str, drifted: bool = False, *reasons: str, no_champion: bool = False) -> dict:
    return {
        "kind": "batch_monitored",
        "batch_id": batch_id,
        "period_start": f"{batch_id}-01-01T00:00:00+00:00",
        "batch_drifted": drifted,
        "reasons": list(reasons) or (["data_drift"] if drifted else []),
        "no_champion": no_champion,
    }


def signal(batch_id: str, *columns: str, reason: str = "data_drift") -> dict:
    return {"kind": "drift_signal", "batch_id": batch_id, "reason": reason, "drifted_columns": list(columns)}


def cols(batch_id: str, *columns: str, reasons: tuple[str, ...] = ("data_drift",)) -> dict:
    """A drifted batch that names its drifted feature columns."""
    return {**mon(batch_id, True, *reasons), "drifted_columns": list(columns)}


def gate(batch_id: str, decision: str = "reject") -> dict:
    return {"kind": "gate_decision", "batch_id": batch_id, "decision": decision}


CHANGED = {"kind": "champion_changed", "version": "2"}
# A champion that changed two (quiet) batches ago: the cooldown is over for the next batch.
SETTLED = [CHANGED, mon("1970"), mon("1971")]


@dataclass(frozen=True)
class Case:
    events: list[dict]
    confirmed: bool
    explanation: str  # a fragment of the explanation
    onset: str | None = None  # given exactly when confirmed
    reason: str | None = None  # given exactly when confirmed
    policy: DriftPolicy = POLICY


CASES = {
    "not drifted": Case([*SETTLED, mon("1980", True), mon("1981", True), mon("1982")], False, "batch not drifted"),
    "first drifted batch is debounced": Case([*SETTLED, mon("1980", True)], False, "debounce: 1 of last 3"),
    "two in a row confirm": Case(
        [*SETTLED, mon("1980", True), mon("1981", True)], True, "2 of last 3", "1980", "data_drift"
    ),
    "k of m need not be consecutive": Case(
        [*SETTLED, mon("1980", True), mon("1981"), mon("1982", True)], True, "2 of last 3", "1980", "data_drift"
    ),
    "an old drifted batch falls out of the window": Case(
        [*SETTLED, mon("1980", True), mon("1981"), mon("1982"), mon("1983", True)], False, "debounce: 1 of last 3"
    ),
    "onset is the first drifted batch in the window": Case(
        [*SETTLED, mon("1979", True), mon("1980"), mon("1981"), mon("1982", True), mon("1983", True)],
        True,
        "2 of last 3",
        "1982",
        "data_drift",
    ),
    "k=1 of m=1 confirms at once": Case(
        [*SETTLED, mon("1980", True)],
        True,
        "1 of last 1",
        "1980",
        "data_drift",
        DriftPolicy(debounce=DebounceSpec(k=1, m=1)),
    ),
    "cooldown, first batch after the change": Case([CHANGED, mon("1980", True)], False, "cooldown: 1 of 2"),
    "cooldown, second batch after the change": Case(
        [CHANGED, mon("1980", True), mon("1981", True)], False, "cooldown: 2 of 2"
    ),
    "cooldown over, drifted batches inside it still count": Case(
        [CHANGED, mon("1980", True), mon("1981", True), mon("1982", True)], True, "3 of last 3", "1980", "data_drift"
    ),
    "only batches since the last champion change count": Case(
        [mon("1975", True), mon("1976", True), *SETTLED, mon("1980", True)], False, "debounce: 1 of last 3"
    ),
    "merged while a signal is pending": Case(
        [*SETTLED, mon("1980", True), mon("1981", True), signal("1981"), mon("1982", True)],
        False,
        "merged into pending signal from batch 1981",
    ),
    "a rejected retrain ends the pending signal and starts a cooldown": Case(
        [*SETTLED, mon("1980", True), mon("1981", True), signal("1981"), gate("1981"), mon("1982", True)],
        False,
        "cooldown: 1 of 2 batches since the last retrain decision",
    ),
    "batches a rejected retrain answered do not count again": Case(
        [
            *SETTLED,
            mon("1980", True),
            mon("1981", True),
            signal("1981"),
            gate("1981"),
            mon("1982"),
            mon("1983"),
            mon("1984", True),
        ],
        False,
        "debounce: 1 of last 3",
    ),
    "after a rejection only acknowledged columns drift: no signal, however long it lasts": Case(
        [
            *SETTLED,
            cols("1980", "wind"),
            cols("1981", "wind"),
            signal("1981", "wind"),
            gate("1981"),
            cols("1982", "wind"),
            cols("1983", "wind"),
            cols("1984", "wind"),
            cols("1985", "wind"),
        ],
        False,
        "only acknowledged columns drifted (wind)",
    ),
    "after a rejection a new column counts": Case(
        [
            *SETTLED,
            cols("1980", "wind"),
            cols("1981", "wind"),
            signal("1981", "wind"),
            gate("1981"),
            cols("1982", "wind"),
            cols("1983", "wind", "temp"),
            cols("1984", "temp"),
        ],
        True,
        "2 of last 3",
        "1983",
        "data_drift",
    ),
    "after a rejection a performance drop still counts": Case(
        [
            *SETTLED,
            cols("1980", "wind"),
            cols("1981", "wind"),
            signal("1981", "wind"),
            gate("1981"),
            cols("1982", "wind"),
            cols("1983", "wind", reasons=("performance",)),
            cols("1984", "wind", reasons=("performance", "data_drift")),
        ],
        True,
        "2 of last 3",
        "1983",
        "performance",
    ),
    "a person's rejection acknowledges the columns too": Case(
        [
            *SETTLED,
            cols("1980", "wind"),
            cols("1981", "wind"),
            signal("1981", "wind"),
            gate("1981", "promote"),
            {"kind": "approval", "outcome": "rejected"},
            cols("1982", "wind"),
            cols("1983", "wind"),
            cols("1984", "wind"),
        ],
        False,
        "only acknowledged columns drifted (wind)",
    ),
    "a promotion clears acknowledged columns": Case(
        [
            *SETTLED,
            cols("1980", "wind"),
            cols("1981", "wind"),
            signal("1981", "wind"),
            gate("1981"),
            CHANGED,
            cols("1982", "wind"),
            cols("1983", "wind"),
            cols("1984", "wind"),
        ],
        True,
        "3 of last 3",
        "1982",
        "data_drift",
    ),
    "labels of a batch from before the decision are not a batch after it": Case(
        [
            *SETTLED,
            mon("1980"),
            mon("1981", True),
            mon("1982", True),
            signal("1982"),
            gate("1982"),
            mon("1983"),
            mon("1981", True, "performance"),
            mon("1984", True),
        ],
        False,
        "cooldown: 2 of 2",
    ),
    "labels of a batch from before the decision still update it where it was": Case(
        [*SETTLED, mon("1980", True), mon("1981"), mon("1980", True, "performance")], False, "debounce: 1 of last 3"
    ),
    "labels of older batches do not age a pending signal": Case(
        [
            *SETTLED,
            mon("1980", True),
            mon("1981", True),
            signal("1981"),
            mon("1982", True),
            mon("1980", True),
            mon("1983", True),
        ],
        False,
        "merged into pending signal from batch 1981",
        policy=DriftPolicy(debounce=DebounceSpec(k=2, m=3), cooldown_batches=2, pending_expiry_batches=3),
    ),
    "a performance signal's rejection acknowledges nothing": Case(
        [
            *SETTLED,
            cols("1980", "wind"),
            cols("1981", "wind"),
            signal("1981", "wind", reason="performance"),
            gate("1981"),
            cols("1982", "wind"),
            cols("1983", "wind"),
            cols("1984", "wind"),
        ],
        True,
        "3 of last 3",
        "1982",
        "data_drift",
    ),
    "a recorded retrain failure frees the pending signal": Case(
        [
            *SETTLED,
            mon("1980", True),
            mon("1981", True),
            signal("1981"),
            {"kind": "retrain_failed", "batch_id": "1981"},
            mon("1982", True),
        ],
        True,
        "3 of last 3",
        "1980",
        "data_drift",
    ),
    "a pending signal still blocks just before it expires": Case(
        [*SETTLED, mon("1980", True), mon("1981", True), signal("1981"), mon("1982", True), mon("1983", True)],
        False,
        "merged into pending signal from batch 1981",
        policy=DriftPolicy(debounce=DebounceSpec(k=2, m=3), cooldown_batches=2, pending_expiry_batches=3),
    ),
    "a signal whose retrain left no trace expires": Case(
        [
            *SETTLED,
            mon("1980", True),
            mon("1981", True),
            signal("1981"),
            mon("1982", True),
            mon("1983", True),
            mon("1984", True),
        ],
        True,
        "3 of last 3",
        "1982",
        "data_drift",
        policy=DriftPolicy(debounce=DebounceSpec(k=2, m=3), cooldown_batches=2, pending_expiry_batches=3),
    ),
    "bootstrap without a champion": Case(
        [mon("backfill", no_champion=True)], True, "no champion yet", "backfill", "bootstrap"
    ),
    "bootstrap requests merge while the first training is pending": Case(
        [mon("backfill", no_champion=True), signal("backfill"), mon("1977", no_champion=True)],
        False,
        "merged into pending signal from batch backfill",
    ),
    "reason: performance beats data drift": Case(
        [*SETTLED, mon("1980", True), mon("1981", True, "prediction_drift", "data_drift", "performance")],
        True,
        "2 of last 3",
        "1980",
        "performance",
    ),
    "reason: data drift beats prediction drift": Case(
        [*SETTLED, mon("1980", True), mon("1981", True, "prediction_drift", "data_drift")],
        True,
        "2 of last 3",
        "1980",
        "data_drift",
    ),
    "reason: prediction drift alone": Case(
        [*SETTLED, mon("1980", True), mon("1981", True, "prediction_drift")],
        True,
        "2 of last 3",
        "1980",
        "prediction_drift",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_decide(case: Case):
    decision = decide(case.policy, case.events, MonitoredBatch.from_dict(case.events[-1]))
    assert decision.confirmed is case.confirmed
    assert case.explanation in decision.explanation
    if case.confirmed:
        assert (decision.reason, decision.onset_batch) == (case.reason, case.onset)
        assert decision.onset_period_start == f"{case.onset}-01-01T00:00:00+00:00"
    else:
        assert (decision.reason, decision.onset_batch) == (None, None)


def test_rerun_of_the_signalling_batch_is_idempotent():
    """A re-run of the batch that raised the signal sees its own signal and decides exactly the same."""
    before = [*SETTLED, mon("1980", True), mon("1981", True)]
    first = decide(POLICY, before, MonitoredBatch.from_dict(before[-1]))
    rerun = [*before, {"kind": "drift_decided", "batch_id": "1981"}, signal("1981"), mon("1981", True)]
    assert first.confirmed
    assert decide(POLICY, rerun, MonitoredBatch.from_dict(rerun[-1])) == first


@pytest.mark.parametrize("drifted", [True, False])
def test_rerun_of_an_unconfirmed_batch_stays_unconfirmed(drifted: bool):
    before = [*SETTLED, mon("1980", drifted)]
    rerun = [*before, mon("1980", drifted)]
    assert not decide(POLICY, before, MonitoredBatch.from_dict(before[-1])).confirmed
    assert decide(POLICY, rerun, MonitoredBatch.from_dict(rerun[-1])) == decide(
        POLICY, before, MonitoredBatch.from_dict(before[-1])
    )


def test_rerun_does_not_count_a_batch_twice():
    """Two records of one drifted batch are one drifted batch, not the two that k=2 needs."""
    events = [*SETTLED, mon("1980", True), mon("1980", True)]
    decision = decide(POLICY, events, MonitoredBatch.from_dict(events[-1]))
    assert not decision.confirmed and "1 of last 3" in decision.explanation


def test_decision_to_dict_is_plain():
    decision = decide(
        POLICY, [mon("backfill", no_champion=True)], MonitoredBatch.from_dict(mon("backfill", no_champion=True))
    )
    assert decision.to_dict() == {
        "confirmed": True,
        "reason": "bootstrap",
        "explanation": "no champion yet: train the first model",
        "onset_batch": "backfill",
        "onset_period_start": "backfill-01-01T00:00:00+00:00",
    }
    assert isinstance(decision, PolicyDecision)


def test_signals_from_before_signal_ids_count_as_emitted():
    """The monitor emitted the asset events of id-less signals itself: a drift sensor must not retrain on them."""
    from ml.drift.policy import unemitted_signals

    events = [
        {"kind": "drift_signal", "batch_id": "1983", "recorded_at": "2025-01-01T00:00:00"},
        {"kind": "drift_signal", "batch_id": "1990", "signal_id": "s-1"},
        {"kind": "drift_signal", "batch_id": "1991", "signal_id": "s-2"},
        {"kind": "drift_signal_emitted", "signal_id": "s-1"},
    ]
    assert [e["signal_id"] for e in unemitted_signals(events)] == ["s-2"]
