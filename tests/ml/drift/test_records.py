"""The typed hand-offs read back what they write, and read the dicts the ledger and XCom have always held."""

from __future__ import annotations

import json

from ml.drift.policy import PolicyDecision
from ml.drift.records import DriftSignal, MonitoredBatch
from ml.training.window import TrainingWindow, WindowSpan

MONITORED = {
    "batch_id": "1983",
    "period_start": "1983-01-01",
    "data_rev": "abc",
    "batch_drifted": True,
    "reasons": ["performance", "data_drift"],
    "drifted_columns": ["visibility"],
    "prediction_drift": True,
    "drift_share": 0.125,
    "performance": {"checked": True, "dropped": True},
    "report_id": "r",
    "columns": [{"column": "visibility"}],  # in the ledger record, not modelled: the policy never reads it
    "kind": "batch_monitored",
}


def test_a_monitored_batch_reads_a_ledger_record_and_round_trips():
    batch = MonitoredBatch.from_dict(MONITORED)
    assert batch.reasons == ("performance", "data_drift") and batch.columns == {"visibility", "prediction"}
    assert MonitoredBatch.from_dict(json.loads(json.dumps(batch.to_dict()))) == batch


def test_a_confirmed_signal_carries_the_batch_and_the_decision_and_round_trips():
    decision = PolicyDecision(True, "performance", "2 of last 3 batches drifted", "1982", "1982-01-01")
    signal = DriftSignal.confirmed("weather", "s1", MonitoredBatch.from_dict(MONITORED), decision)
    written = signal.to_dict()
    assert written["onset_batch"] == "1982" and written["drifted_columns"] == ["visibility"]
    assert "labels_report_html" not in written  # optional keys appear only when set, as before
    assert DriftSignal.from_dict(json.loads(json.dumps(written))) == signal


def test_a_manual_signal_is_a_reason_and_unknown_keys_travel_along():
    signal = DriftSignal.from_dict({"reason": "manual", "source": "external-monitor"})
    assert signal.batch_id is None and signal.extra == {"source": "external-monitor"}
    assert DriftSignal.from_dict({}).reason == "manual"
    assert signal.to_dict()["source"] == "external-monitor"


def test_a_window_becomes_tags_in_one_place_and_its_span_reads_them_back():
    window = TrainingWindow("rev", "md5", 6, "1961-01-01", "1966-12-31", 2190, "1965-03-15", 657, "how", "bootstrap")
    assert TrainingWindow.from_dict(json.loads(json.dumps(window.to_dict()))) == window
    tags = {f"ct.{k}": v for k, v in window.bundle_tags(train_rows=1533, holdout_rows=657).items()}
    assert WindowSpan.from_tags(tags, prefix="ct.") == window.span
    assert tags["ct.window_rows"] == "1533" and tags["ct.holdout_rows"] == "657"
