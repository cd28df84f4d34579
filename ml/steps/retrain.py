"""Retrain: pin a training window to a data version, train a challenger, gate it, and promote or reject."""

from __future__ import annotations

import logging

from ml.contract import Contract
from ml.drift.records import DriftSignal
from ml.gate.approval import APPROVED, approval_outcome, record_approval
from ml.gate.decision import evaluate_gate
from ml.ledger import EventKind, append_event
from ml.registry.bundle import release_bundle
from ml.registry.runs import MODEL_ARTIFACT, log_challenger_run
from ml.registry.store import (
    CHAMPION,
    download_run_artifact,
    ensure_registered_model,
    load_scoring_model,
    log_gate_decision,
    promote,
    register_version,
    version_by_alias,
)
from ml.settings import PlatformPaths
from ml.training.model import ScoringModel
from ml.training.train import train_model
from ml.training.window import TrainingWindow, read_window
from ml.training.window import pin_training_window as pin_window

logger = logging.getLogger(__name__)


def pin_training_window(paths: PlatformPaths, contract: Contract, signal: dict, data_rev: str | None = None) -> dict:
    """The retrain's training window (:func:`ml.training.window.pin_training_window`) for the signal that started
    it (the drift asset event's extra, or a manual run's params), as XCom carries it."""
    return pin_window(paths, contract, DriftSignal.from_dict(signal), data_rev).to_dict()


def _warm_start_model(paths: PlatformPaths, contract: Contract) -> tuple[ScoringModel | None, str | None]:
    """The champion to fine-tune from, when the contract asks for warm starts and there is one."""
    if not contract.training.warm_start:
        return None, None
    ensure_registered_model(paths, contract.model_name, contract.description)
    champion = version_by_alias(paths, contract.model_name, CHAMPION)
    return (load_scoring_model(paths, champion), champion.version) if champion else (None, None)


def train_challenger(paths: PlatformPaths, contract: Contract, window: dict, seed: int | None = None) -> dict:
    """Train on the window minus its holdout; log everything to a new MLflow run; return the run's ids."""
    window = TrainingWindow.from_dict(window)
    train, _ = read_window(paths, contract, window)
    start_from, start_version = _warm_start_model(paths, contract)
    result = train_model(train, contract, seed=seed, warm_start=start_from)
    if result.fallback_reason:
        logger.warning("CPU fallback: %s", result.fallback_reason)
    run = log_challenger_run(paths, contract, window, train, result, start_version)
    return {
        "run_id": run.run_id,
        "artifact_uri": run.artifact_uri,
        "device": result.device,
        "device_name": result.device_name,
        "seed": result.seed,
        "best_epoch": result.best_epoch,
        "train_rows": len(train),
        "precision": result.precision,
        "warm_start": result.warm_start,
        "warm_start_version": start_version if result.warm_start == "champion" else None,
        "cpu_fallback": result.fallback_reason,
    }


def _holdout_metric_tags(contract: Contract, y, scores) -> dict[str, str]:
    """The challenger's own metric on the holdout, with its standard error: what the monitor compares to."""
    from scipy.stats import norm

    from ml.stats import metric_confidence_interval

    alpha = contract.gate.alpha
    value, low, high = metric_confidence_interval(
        contract.gate.metric, y, scores, alpha=alpha, threshold=contract.gate.threshold
    )
    se = (high - low) / (2 * norm.ppf(1 - alpha))
    return {
        "holdout_metric": f"{value:.6f}",
        "holdout_metric_se": f"{se:.6f}",
        "holdout_metric_name": contract.gate.metric,
    }


def evaluate_challenger(paths: PlatformPaths, contract: Contract, window: dict, trained: dict) -> dict:
    """Score champion and challenger on the same holdout, decide, record, and register the challenger."""
    window = TrainingWindow.from_dict(window)
    _, holdout = read_window(paths, contract, window)
    y = holdout[contract.target].to_numpy()
    challenger = ScoringModel.load(download_run_artifact(paths, trained["run_id"], MODEL_ARTIFACT))
    challenger_scores = challenger.predict(holdout)
    ensure_registered_model(paths, contract.model_name, contract.description)
    champion = version_by_alias(paths, contract.model_name, CHAMPION)
    champion_scores = load_scoring_model(paths, champion).predict(holdout) if champion else None
    context = {
        "champion_version": champion.version if champion else None,
        "holdout_rev": window.data_rev,
        "holdout_start": window.holdout_start,
        "reason": window.reason,
    }
    decision = evaluate_gate(
        contract.gate,
        y,
        challenger_scores,
        champion_scores,
        context,
        holdout=holdout,
        predict=challenger.predict,
        slices=contract.slices,
        timestamp=contract.timestamp,
    )
    logger.info("gate decision\n%s", decision.markdown())
    log_gate_decision(paths, trained["run_id"], decision.to_dict(), decision.markdown())
    tags = release_bundle(
        contract,
        window_tags=window.bundle_tags(trained["train_rows"], len(holdout)),
        trained=trained,
        gate_tags=decision.summary_tags(),
        holdout_metric_tags=_holdout_metric_tags(contract, y, challenger_scores),
        reason=window.reason,
    )
    version = register_version(paths, contract.model_name, trained["run_id"], trained["artifact_uri"], tags)
    record = {
        "decision": decision.decision,
        "decision_id": decision.decision_id,
        "reason": decision.reason,
        "version": version.version,
        "champion_version": context["champion_version"],
        "metric": decision.metric,
        "challenger_value": decision.challenger_value,
        "champion_value": decision.champion_value,
        "p_value": (decision.comparison or {}).get("p_value"),
        "effect": (decision.comparison or {}).get("effect"),
        "n": decision.n,
        "trigger": window.reason,
        "run_id": trained["run_id"],
        "signal_batch": window.signal_batch,
        "blocking_checks": decision.blocking_checks,
    }
    append_event(paths.ledger, contract.name, EventKind.GATE_DECISION, batch_id=window.signal_batch, **record)
    return record


def record_retrain_failure(
    paths: PlatformPaths, contract: Contract, signal: dict, *, run_id: str, task_id: str, error: str
) -> dict:
    """A retrain that failed for good: recorded in the ledger, where it ends the pending drift signal (the
    policy would otherwise merge every later drift into a retrain that will never decide)."""
    event = {
        "run_id": run_id,
        "task_id": task_id,
        "reason": signal.get("reason", "manual"),
        "error": error.splitlines()[0][:500] if error else "",
    }
    append_event(paths.ledger, contract.name, EventKind.RETRAIN_FAILED, batch_id=signal.get("batch_id"), **event)
    logger.error(
        "retrain %s failed in %s: %s; its drift signal no longer blocks new ones", run_id, task_id, event["error"]
    )
    return event


def promote_challenger(paths: PlatformPaths, contract: Contract, gate: dict, approval: dict | None = None) -> dict:
    """Move the champion alias to the gated version (last step: every record is already written).

    When the contract requires human approval, ``approval`` is the answer of Airflow's ApprovalOperator;
    only an "Approve" promotes, and the approver is recorded before the alias moves.
    """
    if gate["decision"] != "promote":
        raise ValueError(f"refusing to promote version {gate['version']}: gate decision is {gate['decision']}")
    approved = None
    if contract.gate.approval.required:
        outcome = approval_outcome(approval)["outcome"] if approval else "missing"
        if outcome != APPROVED:
            raise ValueError(
                f"refusing to promote version {gate['version']}: the contract requires human approval "
                f"and the answer is {outcome!r}; approve it in Airflow's Required Actions"
            )
        approved = record_approval(paths, contract, gate, approval)
    previous = promote(paths, contract.model_name, gate["version"])
    event = {
        "version": gate["version"],
        "previous": previous,
        "decision_id": gate["decision_id"],
        "batch_id": gate.get("signal_batch"),
    }
    if approved is not None:
        event.update(
            {
                "approved_by": approved["approver"],
                "approver_id": approved["approver_id"],
                "approved_at": approved["responded_at"],
            }
        )
    append_event(paths.ledger, contract.name, EventKind.CHAMPION_CHANGED, **event)
    return event
