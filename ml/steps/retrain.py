"""Retrain: pin a training window to a data version, train a challenger, gate it, and promote or reject."""

from __future__ import annotations

import logging

import numpy as np

from ml.contract import Contract
from ml.drift.records import DriftSignal
from ml.gate.approval import APPROVED, approval_outcome, record_approval
from ml.gate.decision import GateDecision, evaluate_gate
from ml.ledger import EventKind, append_event
from ml.registry.bundle import release_bundle
from ml.registry.runs import log_challenger_run
from ml.registry.store import (
    CHAMPION,
    ensure_registered_model,
    load_run_model,
    load_scoring_model,
    log_gate_decision,
    promote,
    register_version,
    version_by_alias,
)
from ml.serving.ct_scoring import score
from ml.settings import PlatformPaths
from ml.training.sklearn_families import baseline_spec, fit_family
from ml.training.trainers import train_family, uses_torch
from ml.training.window import TrainingWindow, read_window
from ml.training.window import pin_training_window as pin_window

logger = logging.getLogger(__name__)


def pin_training_window(paths: PlatformPaths, contract: Contract, signal: dict, data_rev: str | None = None) -> dict:
    """The retrain's training window (:func:`ml.training.window.pin_training_window`) for the signal that started
    it (the drift asset event's extra, or a manual run's params), as XCom carries it."""
    return pin_window(paths, contract, DriftSignal.from_dict(signal), data_rev).to_dict()


def _warm_start_model(paths: PlatformPaths, contract: Contract) -> tuple[object | None, str | None]:
    """The champion's network to fine-tune from, when the contract asks for warm starts and there is one."""
    if not (contract.training.warm_start and uses_torch(contract)):
        return None, None
    ensure_registered_model(paths, contract.model_name, contract.description)
    champion = version_by_alias(paths, contract.model_name, CHAMPION)
    if champion is None:
        return None, None
    model = load_scoring_model(paths, champion)
    return (model.scorer() if hasattr(model, "scorer") else model), champion.version


def _trained(run, result, contract: Contract, train_rows: int, start_version: str | None) -> dict:
    """What ``train_challenger`` hands to the gate (XCom): the run, the family and how it was trained."""
    return {
        "run_id": run.run_id,
        "artifact_uri": run.artifact_uri,
        "family": contract.training.model.family,
        "device": result.device,
        "device_name": result.device_name,
        "seed": result.seed,
        "best_epoch": result.best_epoch,
        "train_rows": train_rows,
        "precision": result.precision,
        "warm_start": result.warm_start,
        "warm_start_version": start_version if result.warm_start == "champion" else None,
        "cpu_fallback": result.fallback_reason,
    }


def train_challenger(paths: PlatformPaths, contract: Contract, window: dict, seed: int | None = None) -> dict:
    """Train the contract's model family on the window minus its holdout; log it to a new MLflow run as a pyfunc
    model that a fresh process must score like the training process (parity); return the run's ids."""
    window = TrainingWindow.from_dict(window)
    train, holdout = read_window(paths, contract, window)
    start_from, start_version = _warm_start_model(paths, contract)
    result = train_family(train, contract, seed=seed, warm_start=start_from)
    if result.fallback_reason:
        logger.warning("CPU fallback: %s", result.fallback_reason)
    run = log_challenger_run(paths, contract, window, train, holdout, result, start_version)
    return _trained(run, result, contract, len(train), start_version)


def _with_model(contract: Contract, spec) -> Contract:
    return contract.model_copy(update={"training": contract.training.model_copy(update={"model": spec})})


def _baseline_guard(contract: Contract, train, holdout) -> tuple[Contract, object, np.ndarray] | None:
    """The baseline trained on the same rows and its holdout scores (None: off, or the challenger is one)."""
    spec = baseline_spec(contract)
    if not contract.gate.baseline.check or contract.training.model.family == spec.family:
        return None
    baseline_contract = _with_model(contract, spec)
    result = fit_family(train, baseline_contract, spec, seed=contract.training.seed)
    return baseline_contract, result, score(result.model, holdout)


def _promote_baseline_instead(paths: PlatformPaths, contract: Contract, window: TrainingWindow, guard, train, holdout):
    """``gate.baseline.promote``: the baseline takes the place of a challenger that lost to it: its own run and
    pyfunc, gated against the champion like any challenger."""
    baseline_contract, result, _ = guard
    run = log_challenger_run(paths, baseline_contract, window, train, holdout, result, None)
    logger.warning("the challenger lost to the %s baseline; gating the baseline instead", result.model.spec["family"])
    return _trained(run, result, baseline_contract, len(train), None)


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


def _decide(paths, contract, window, holdout, challenger, scores, guard) -> GateDecision:
    y = holdout[contract.target].to_numpy()
    ensure_registered_model(paths, contract.model_name, contract.description)
    champion = version_by_alias(paths, contract.model_name, CHAMPION)
    champion_scores = load_scoring_model(paths, champion).predict(holdout) if champion else None
    context = {
        "champion_version": champion.version if champion else None,
        "holdout_rev": window.data_rev,
        "holdout_start": window.holdout_start,
        "reason": window.reason,
    }
    return evaluate_gate(
        contract.gate,
        y,
        scores,
        champion_scores,
        context,
        holdout=holdout,
        predict=challenger.predict,
        slices=contract.slices,
        timestamp=contract.timestamp,
        baseline=(guard[1].model.spec["family"], guard[2]) if guard else None,
    )


def evaluate_challenger(paths: PlatformPaths, contract: Contract, window: dict, trained: dict) -> dict:
    """Score champion, challenger and the baseline on the same holdout, decide, record, and register the
    challenger (or, with ``gate.baseline.promote``, the baseline that beat it)."""
    window = TrainingWindow.from_dict(window)
    train, holdout = read_window(paths, contract, window)
    challenger = load_run_model(paths, trained["run_id"], label=f"challenger run {trained['run_id']}")
    guard = _baseline_guard(contract, train, holdout)
    scores = challenger.predict(holdout)
    decision = _decide(paths, contract, window, holdout, challenger, scores, guard)
    if guard and decision.baseline["challenger_worse"] and contract.gate.baseline.promote:
        log_gate_decision(paths, trained["run_id"], decision.to_dict(), decision.markdown())
        trained = _promote_baseline_instead(paths, contract, window, guard, train, holdout)
        challenger = load_run_model(paths, trained["run_id"], label=f"baseline run {trained['run_id']}")
        scores = challenger.predict(holdout)
        decision = _decide(paths, contract, window, holdout, challenger, scores, None)
    logger.info("gate decision\n%s", decision.markdown())
    log_gate_decision(paths, trained["run_id"], decision.to_dict(), decision.markdown())
    y = holdout[contract.target].to_numpy()
    tags = release_bundle(
        contract,
        window_tags=window.bundle_tags(trained["train_rows"], len(holdout)),
        trained=trained,
        gate_tags=decision.summary_tags(),
        holdout_metric_tags=_holdout_metric_tags(contract, y, scores),
        reason=window.reason,
    )
    version = register_version(paths, contract.model_name, trained["run_id"], trained["artifact_uri"], tags)
    record = {
        "decision": decision.decision,
        "decision_id": decision.decision_id,
        "reason": decision.reason,
        "version": version.version,
        "family": trained.get("family", "mlp"),
        "champion_version": decision.context["champion_version"],
        "metric": decision.metric,
        "challenger_value": decision.challenger_value,
        "champion_value": decision.champion_value,
        "baseline_value": decision.baseline["baseline_value"] if decision.baseline else None,
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
