"""Human approval of a passing gate (contract ``gate.approval``): the request a person reads, their answer
recorded on the version, in the run and in the ledger.

The answer comes from Airflow's ApprovalOperator, whose options are ``APPROVE_OPTION`` and ``REJECT_OPTION``;
this module does not import Airflow, and the DAG integrity test checks they agree.
"""

from __future__ import annotations

import json
import logging

from ml.contract import Contract
from ml.ledger import EventKind, append_event, read_events
from ml.registry.store import (
    client,
    download_run_artifact,
    set_version_tags,
)
from ml.settings import PlatformPaths

logger = logging.getLogger(__name__)


# Human approval (contract `gate.approval`). The answer comes from Airflow's ApprovalOperator, whose options
# are these two strings; this module does not import Airflow, and the DAG integrity test checks they agree.
APPROVE_OPTION, REJECT_OPTION = "Approve", "Reject"


APPROVED, REJECTED, TIMED_OUT = "approved", "rejected", "timed_out"


APPROVAL_ARTIFACT = "gate/approval.json"


def approval_request(paths: PlatformPaths, contract: Contract, gate: dict) -> str:
    """The Markdown a person reads before approving: the gate decision's numbers, from its stored record."""
    decision = json.loads(download_run_artifact(paths, gate["run_id"], "gate/decision.json").read_text())
    comparison = decision.get("comparison") or {}
    champion = gate.get("champion_version")
    lines = [
        f"Gate decision `{decision['decision_id']}`: **{decision['decision']}** version {gate['version']} "
        f"of `{contract.model_name}` (champion now: {champion or 'none, first model'}).",
        "",
        decision["reason"],
        "",
        "| | |",
        "|---|---|",
        f"| metric | {decision['metric']} ({decision['rule']}, alpha {decision['alpha']}) |",
        f"| holdout rows | {decision['n']} (data version {decision['context'].get('holdout_rev')}) |",
        f"| challenger | {decision['challenger_value']:.4f} |",
    ]
    if comparison:
        lines += [
            f"| champion | {decision['champion_value']:.4f} |",
            f"| effect (challenger - champion) | {comparison['effect']:+.4f} |",
            f"| CI of effect | [{comparison['ci_low']:.4f}, {comparison['ci_high']:.4f}] |",
            f"| test, one-sided p | {comparison['test']}, {comparison['p_value']:.3g} |",
            f"| minimum detectable effect | {comparison['mde']:.4f} |",
        ]
    if decision.get("ci_low") is not None:
        lines.append(f"| CI of metric | [{decision['ci_low']:.4f}, {decision['ci_high']:.4f}] |")
    lines += [
        f"| p ({row['metric']}), Holm-adjusted | {row['p_value']:.3g}, {row['p_adjusted']:.3g} |"
        for row in decision.get("metrics", [])
        if row.get("p_adjusted") is not None
    ]
    checks = [f"{len(decision.get('slices', []))} slices", f"{len(decision.get('behaviour', []))} behavioural tests"]
    timeout = contract.gate.approval.timeout
    lines += [
        "",
        f"Checks: {', '.join(checks)}, none blocking. Full record: `ct gate show {gate['version']} "
        f"--contract {contract.name}`.",
        "",
        f"**Approve** moves the `champion` alias to version {gate['version']}. **Reject** keeps the champion "
        f"and records your rejection. No answer within {timeout} counts as a rejection.",
    ]
    return "\n".join(lines) + "\n"


def approval_outcome(response: dict | None) -> dict:
    """Who answered the approval request, when, and what it means: approved, rejected or timed out."""
    if not response or not response.get("chosen_options"):
        raise ValueError(
            "no answer to the approval request: expected the ApprovalOperator's result "
            "{chosen_options, responded_by_user, responded_at}"
        )
    chosen = list(response["chosen_options"])
    user = response.get("responded_by_user") or None
    if chosen == [APPROVE_OPTION]:
        outcome = APPROVED
    elif chosen == [REJECT_OPTION]:
        # Airflow answers a timed-out request with its default (Reject) and no responding user.
        outcome = REJECTED if user else TIMED_OUT
    else:
        raise ValueError(f"unexpected approval answer {chosen}: expected [{APPROVE_OPTION!r}] or [{REJECT_OPTION!r}]")
    responded_at = response.get("responded_at")
    return {
        "outcome": outcome,
        "approver": user["name"] if user else None,
        "approver_id": user["id"] if user else None,
        "responded_at": responded_at.isoformat() if hasattr(responded_at, "isoformat") else responded_at,
    }


def record_approval(paths: PlatformPaths, contract: Contract, gate: dict, response: dict | None) -> dict:
    """Record a person's answer to a passing gate: version tags, the run's gate/approval.json, a ledger event.

    Idempotent: a retried task finds its ledger event and writes nothing twice.
    """
    record = {
        "version": gate["version"],
        "decision_id": gate["decision_id"],
        "run_id": gate["run_id"],
        **approval_outcome(response),
    }
    done = [
        e
        for e in read_events(paths.ledger, contract.name, [EventKind.APPROVAL])
        if e.get("version") == record["version"] and e.get("decision_id") == record["decision_id"]
    ]
    if done:
        return {k: done[-1].get(k) for k in record}
    tags = {
        "ct.approval": record["outcome"],
        "ct.approver": record["approver"] or "",
        "ct.approver_id": record["approver_id"] or "",
        "ct.approval_at": record["responded_at"] or "",
    }
    set_version_tags(paths, contract.model_name, gate["version"], tags)
    client(paths).log_dict(gate["run_id"], record, APPROVAL_ARTIFACT)
    append_event(paths.ledger, contract.name, EventKind.APPROVAL, batch_id=gate.get("signal_batch"), **record)
    logger.info(
        "version %s: %s by %s at %s",
        record["version"],
        record["outcome"],
        record["approver"] or "nobody",
        record["responded_at"],
    )
    return record


def record_rejection(paths: PlatformPaths, contract: Contract, gate: dict, response: dict | None) -> dict:
    """A passing gate that a person rejected (or nobody answered in time): recorded, the champion stays."""
    if approval_outcome(response)["outcome"] == APPROVED:
        raise ValueError(
            f"version {gate['version']} was approved but not promoted: promote_champion did not run; "
            "clear it in Airflow to promote"
        )
    record = record_approval(paths, contract, gate, response)
    logger.warning(
        "version %s not promoted: %s by %s; champion unchanged",
        record["version"],
        record["outcome"],
        record["approver"] or "nobody (timeout)",
    )
    return record


def approval_markdown(record: dict) -> str:
    """The approval lines of ``ct gate show``."""
    who = f"{record['approver']} (id {record['approver_id']})" if record.get("approver") else "nobody (timed out)"
    return (
        "\n".join(
            [
                "",
                "## Human approval",
                "",
                "| field | value |",
                "|---|---|",
                f"| outcome | {record['outcome']} |",
                f"| approver | {who} |",
                f"| answered at | {record.get('responded_at')} |",
            ]
        )
        + "\n"
    )
