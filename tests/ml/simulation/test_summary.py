"""The simulation report counts what was released: a passing gate a person rejected is not a promotion."""

from __future__ import annotations

from ct.summary import gate_table
from ml.ledger import append_event
from ml.simulation.summary import simulation_report


def _gate(ledger, version: str, decision: str) -> None:
    append_event(
        ledger,
        "weather",
        "gate_decision",
        batch_id=f"b{version}",
        decision=decision,
        version=version,
        decision_id=f"d{version}",
        trigger="data_drift",
        challenger_value=0.8,
        champion_value=0.7,
        effect=0.1,
        p_value=0.001,
        n=500,
    )


def test_human_answers_change_what_counts_as_a_promotion(tmp_path):
    for version, decision in (("1", "promote"), ("2", "promote"), ("3", "promote"), ("4", "reject"), ("5", "promote")):
        _gate(tmp_path, version, decision)
    append_event(tmp_path, "weather", "approval", version="1", decision_id="d1", outcome="approved", approver="ada")
    append_event(tmp_path, "weather", "approval", version="2", decision_id="d2", outcome="rejected", approver="bob")
    append_event(tmp_path, "weather", "approval", version="3", decision_id="d3", outcome="timed_out", approver=None)
    report = simulation_report(tmp_path, "weather")
    totals = report["totals"]
    assert (totals["retrains"], totals["promotions"], totals["rejections"], totals["human_rejections"]) == (5, 2, 1, 2)
    table = gate_table(report)
    assert "promote (approved by ada)" in table and "promote, rejected by bob: not released" in table
    assert "promote, timed_out: not released" in table


def test_lineage_prints_training_and_approval_sections_only_when_recorded():
    from ml.registry.lineage import format_lineage

    record = {
        "model": "ct-weather",
        "version": "3",
        "aliases": ["champion"],
        "run_id": "r",
        "data_batches": ["1977"],
        "bundle": {
            "data_rev": "abc",
            "seed": "7",
            "precision": "bf16",
            "warm_start": "champion",
            "warm_start_version": "2",
            "cpu_fallback": "",
            "approval": "approved",
            "approver": "ada",
        },
    }
    text = format_lineage(record)
    assert "[training]" in text and "warm_start_version     2" in text and "cpu_fallback" not in text
    assert "[human approval]" in text and "approver               ada" in text
    assert "[human approval]" not in format_lineage({**record, "bundle": {"data_rev": "abc"}})
