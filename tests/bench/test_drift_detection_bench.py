"""The drift-detection benchmark counts what it says: the platform's policy on a real ledger, delays and alarms."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import drift_detection as bench
from ml.contract import load_contract

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def contract():
    weather = load_contract(REPO / "include" / "contracts" / "weather.yaml")
    drift = weather.drift.model_copy(
        update={"debounce": weather.drift.debounce.model_copy(update={"k": 2, "m": 3}), "cooldown_batches": 2}
    )
    return weather.model_copy(update={"name": "bench_test", "drift": drift})


def check(drifted: bool) -> bench.Check:
    return bench.Check(drifted, ("temperature",) if drifted else (), 0.125 if drifted else 0.0)


def test_policy_ledger_debounces_and_judges_afresh_after_a_resolved_signal(contract, tmp_path):
    ledger = bench.PolicyLedger(contract, tmp_path)
    drifted = [False, True, False, True, True, True, True]
    # 2 of 3 at batch 3; the simulated promotion resets the window and its cooldown holds batches 4 and 5.
    assert [ledger.observe(check(d)) for d in drifted] == [False, False, False, True, False, False, True]
    assert ledger.signals == 2


def test_tally_counts_stable_alarms_delay_and_misses():
    detected = bench.StreamRecord(shares=[0, 0, 0, 1, 1, 1], alarms={"r": [False, True, False, False, True, True]})
    missed = bench.StreamRecord(shares=[0, 0.005, 0.3, 1], alarms={"r": [False, False, False, False]})
    control = bench.StreamRecord(shares=[0, 0, 0], alarms={"r": [True, False, False]})
    tally = bench.Tally()
    for record in (detected, missed, control):
        tally.add(record, "r")
    assert (tally.stable, tally.alarms) == (3 + 2 + 3, 1 + 0 + 1)
    assert tally.delays == [2] and tally.shares_at_detection == [1]
    assert tally.missed == 1


def test_gradual_layout_starts_stable_and_ends_drifted():
    _, _, shares = bench.gradual_layout()
    onset = next(i for i, s in enumerate(shares) if s >= bench.STABLE_SHARE)
    assert onset >= 5 and shares[-1] > 0.99
    assert all(a <= b for a, b in zip(shares, shares[1:], strict=False))
