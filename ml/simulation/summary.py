"""The simulation report: what happened to every batch, and totals, built from the ledger."""

from __future__ import annotations

from ml.ledger import EventKind, read_events


def _batch_rows(events: list[dict]) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for event in events:
        batch_id = event.get("batch_id")
        if not batch_id or event["kind"] not in (
            EventKind.BATCH_INGESTED,
            EventKind.BATCH_QUARANTINED,
            EventKind.BATCH_MONITORED,
            EventKind.DRIFT_SIGNAL,
        ):
            continue
        row = rows.setdefault(
            batch_id,
            {
                "batch_id": batch_id,
                "data_version": None,
                "rows": None,
                "validation": None,
                "drift_share": None,
                "drifted_columns": [],
                "alarm": False,
                "champion_version": None,
                "champion_metric": None,
            },
        )
        kind = event["kind"]
        if kind == EventKind.BATCH_INGESTED:
            row.update(validation="passed", rows=event["rows"], data_version=event["data_version"]["rev"])
        elif kind == EventKind.BATCH_QUARANTINED:
            row.update(validation=event["status"], reason=event["reason"].splitlines()[0])
        elif kind == EventKind.BATCH_MONITORED:
            row.update(
                drift_share=event.get("drift_share"),
                drifted_columns=event.get("drifted_columns", []),
                champion_version=event.get("champion_version"),
                champion_metric=event.get("champion_metric"),
                reasons=event.get("reasons", []),
            )
        elif kind == EventKind.DRIFT_SIGNAL:
            row.update(alarm=True, alarm_reason=event["reason"])
    return rows


def simulation_report(ledger_dir, contract: str) -> dict:
    """Per batch {batch id, data version, rows, verdict, drift share, drifted columns, alarm, champion,
    champion metric} and totals {batches, quarantined, alarms, retrains, promotions, rejections}."""
    events = read_events(ledger_dir, contract)
    batches = list(_batch_rows(events).values())
    gates = _with_approvals([e for e in events if e["kind"] == EventKind.GATE_DECISION], events)
    # A passing gate that a person rejected (or let time out) did not promote: it counts as a human rejection.
    released = [g for g in gates if g["decision"] == "promote" and g.get("approval") in (None, "approved")]
    totals = {
        "batches": len(batches),
        "quarantined": sum(1 for b in batches if b["validation"] not in (None, "passed")),
        "alarms": sum(1 for b in batches if b["alarm"]),
        "retrains": len(gates),
        "promotions": len(released),
        "rejections": sum(1 for g in gates if g["decision"] == "reject"),
        "inconclusive": sum(1 for g in gates if g["decision"] == "inconclusive"),
        "human_rejections": sum(1 for g in gates if g.get("approval") in ("rejected", "timed_out")),
    }
    return {"contract": contract, "batches": batches, "gates": gates, "totals": totals}


def _with_approvals(gates: list[dict], events: list[dict]) -> list[dict]:
    """Each gate decision with the human answer to it, when the contract asked for one."""
    answers = {(e.get("version"), e.get("decision_id")): e for e in events if e["kind"] == EventKind.APPROVAL}
    rows = []
    for gate in gates:
        answer = answers.get((gate.get("version"), gate.get("decision_id")))
        rows.append({**gate, **({"approval": answer["outcome"], "approver": answer.get("approver")} if answer else {})})
    return rows
