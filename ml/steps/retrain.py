"""Retrain: pin a training window to a data version, train a challenger, gate it, and promote or reject."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import pandas as pd

from ml.bundle import release_bundle
from ml.contract import Contract
from ml.gate import GateDecision, evaluate_gate
from ml.labels import labelled_rows
from ml.ledger import append_event, read_events
from ml.model import ScoringModel
from ml.registry import (
    CHAMPION,
    client,
    download_run_artifact,
    ensure_experiment,
    ensure_registered_model,
    load_scoring_model,
    promote,
    register_version,
    set_version_tags,
    version_by_alias,
)
from ml.settings import PlatformPaths
from ml.steps.monitor import PREDICTION, REFERENCE_ARTIFACT, REFERENCE_STATS_ARTIFACT, reference_drift_stats
from ml.train import train_model
from ml.training_run import log_training
from ml.versioning import (
    DataVersionError,
    committed_batches,
    current_version,
    pointer_md5,
    read_dataset,
    resolve_rev,
)

logger = logging.getLogger(__name__)

REFERENCE_ROWS = 5000


def _labelled_dataset(paths: PlatformPaths, contract: Contract, rev: str) -> tuple[pd.DataFrame, int]:
    """The dataset at ``rev``, only rows whose labels have arrived (labels.arrive: delayed), and how many were not."""
    frame = read_dataset(paths.data_repo, contract.name, rev, order_by=contract.timestamp, cache_dir=paths.cache)
    return labelled_rows(frame, contract)


def _window_rows(frame: pd.DataFrame, contract: Contract, signal: dict) -> tuple[pd.DataFrame, str]:
    window = contract.training.window
    onset = signal.get("onset_period_start")
    if window.mode == "since_drift_onset" and onset and signal.get("reason") not in ("bootstrap", "manual"):
        since = frame[frame[contract.timestamp] >= pd.Timestamp(onset)]
        if len(since) >= window.min_rows:
            return since.tail(window.max_rows), f"since drift onset {onset}"
        logger.warning("only %d rows since drift onset %s (< %d); using the most recent rows", len(since), onset,
                       window.min_rows)
    return frame.tail(window.max_rows), "most recent rows"


def pin_training_window(paths: PlatformPaths, contract: Contract, signal: dict, data_rev: str | None = None) -> dict:
    """Choose the data version and the rows to learn from and to judge on (the newest rows: out-of-time)."""
    version = current_version(paths.data_repo, contract.name)
    if version is None:
        raise DataVersionError(f"no data version for {contract.name} yet: ingest a batch first")
    rev = resolve_rev(paths.data_repo, data_rev) if data_rev else version.rev
    frame, unlabelled = _labelled_dataset(paths, contract, rev)
    if unlabelled:
        logger.info("training window: %d rows whose labels have not arrived yet are left out", unlabelled)
    if frame.empty:
        raise DataVersionError(f"no labelled rows in {contract.name} at revision {rev[:10]} ({unlabelled} rows wait "
                               "for their labels): a retrain needs labels; wait for the label files")
    rows, how = _window_rows(frame, contract, signal)
    holdout_rows = max(int(round(len(rows) * contract.gate.holdout.fraction)), contract.gate.holdout.min_rows)
    if holdout_rows >= len(rows):
        raise DataVersionError(f"window of {len(rows)} rows cannot hold a {holdout_rows}-row holdout; lower "
                               "gate.holdout.min_rows or wait for more batches")
    holdout_start = rows[contract.timestamp].iloc[len(rows) - holdout_rows]
    md5 = version.md5 if rev == version.rev else pointer_md5(paths.data_repo, contract.name, rev)
    window = {"data_rev": rev, "md5": md5, "batches": len(committed_batches(paths.data_repo, contract.name, rev)),
              "start": rows[contract.timestamp].iloc[0].isoformat(), "end": rows[contract.timestamp].iloc[-1]
              .isoformat(), "rows": len(rows), "holdout_start": holdout_start.isoformat(),
              "holdout_rows": holdout_rows, "how": how, "reason": signal.get("reason", "manual"),
              "signal_batch": signal.get("batch_id"), "unlabelled_rows": unlabelled}
    logger.info("training window: %s", window)
    return window


def split_window(frame: pd.DataFrame, timestamp: str, window: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, holdout) of a pinned window: rows in [start, end], the holdout from ``holdout_start``."""
    stamps = frame[timestamp]
    in_window = frame[(stamps >= pd.Timestamp(window["start"])) & (stamps <= pd.Timestamp(window["end"]))]
    holdout_from = pd.Timestamp(window["holdout_start"])
    return in_window[in_window[timestamp] < holdout_from], in_window[in_window[timestamp] >= holdout_from]


def read_window(paths: PlatformPaths, contract: Contract, window: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A retrain window's (train, holdout) labelled rows at its ``data_rev``, as the retrain used them."""
    rows, _ = _labelled_dataset(paths, contract, window["data_rev"])
    return split_window(rows, contract.timestamp, window)


def _reference_sample(train: pd.DataFrame, contract: Contract, model: ScoringModel, seed: int) -> pd.DataFrame:
    """Training rows with the model's predictions: the drift reference stored beside the model."""
    sample = train.sample(n=min(REFERENCE_ROWS, len(train)), random_state=seed).sort_values(contract.timestamp)
    return sample.assign(**{PREDICTION: model.predict(sample)})


def _warm_start_model(paths: PlatformPaths, contract: Contract) -> tuple[ScoringModel | None, str | None]:
    """The champion to fine-tune from, when the contract asks for warm starts and there is one."""
    if not contract.training.warm_start:
        return None, None
    ensure_registered_model(paths, contract.model_name, contract.description)
    champion = version_by_alias(paths, contract.model_name, CHAMPION)
    return (load_scoring_model(paths, champion), champion.version) if champion else (None, None)


def _log_reference_stats(sample: pd.DataFrame, contract: Contract, folder: Path) -> None:
    """Drift statistics of the reference, stored beside the model for big-batch drift checks."""
    import mlflow

    from ml.drift_stats import DriftStatsError

    try:
        stats = reference_drift_stats(sample, contract).save(folder / Path(REFERENCE_STATS_ARTIFACT).name)
    except DriftStatsError as error:  # e.g. a method only Evidently computes: the monitor then uses Evidently
        logger.info("reference drift statistics not stored: %s", error)
        return
    mlflow.log_artifact(str(stats), str(Path(REFERENCE_STATS_ARTIFACT).parent))


def train_challenger(paths: PlatformPaths, contract: Contract, window: dict, seed: int | None = None) -> dict:
    """Train on the window minus its holdout; log everything to a new MLflow run; return the run's ids."""
    import mlflow

    train, _ = read_window(paths, contract, window)
    start_from, start_version = _warm_start_model(paths, contract)
    result = train_model(train, contract, seed=seed, warm_start=start_from)
    if result.fallback_reason:
        logger.warning("CPU fallback: %s", result.fallback_reason)
    client(paths)
    experiment = ensure_experiment(paths, contract.name)
    with mlflow.start_run(experiment_id=experiment, run_name=f"retrain-{window['reason']}") as run:
        log_training(result, contract, {"window_rows": len(train), "window_start": window["start"],
                                        "holdout_start": window["holdout_start"], "data_rev": window["data_rev"],
                                        "reason": window["reason"]}, start_version)
        with tempfile.TemporaryDirectory() as tmp:
            result.model.save(Path(tmp) / "model")
            mlflow.log_artifacts(str(Path(tmp) / "model"), "model")
            reference = Path(tmp) / Path(REFERENCE_ARTIFACT).name
            sample = _reference_sample(train, contract, result.model, result.seed)
            sample.to_parquet(reference, index=False)
            mlflow.log_artifact(str(reference), str(Path(REFERENCE_ARTIFACT).parent))
            _log_reference_stats(sample, contract, Path(tmp))
    return {"run_id": run.info.run_id, "artifact_uri": run.info.artifact_uri, "device": result.device,
            "device_name": result.device_name, "seed": result.seed, "best_epoch": result.best_epoch,
            "train_rows": len(train), "precision": result.precision, "warm_start": result.warm_start,
            "warm_start_version": start_version if result.warm_start == "champion" else None,
            "cpu_fallback": result.fallback_reason}


def _log_decision(paths: PlatformPaths, run_id: str, decision: GateDecision) -> None:
    mlflow_client = client(paths)
    mlflow_client.log_dict(run_id, decision.to_dict(), "gate/decision.json")
    mlflow_client.log_text(run_id, decision.markdown(), "gate/decision.md")


def _holdout_metric_tags(contract: Contract, y, scores) -> dict[str, str]:
    """The challenger's own metric on the holdout, with its standard error: what the monitor compares to."""
    from scipy.stats import norm

    from ml.stats import metric_confidence_interval

    alpha = contract.gate.alpha
    value, low, high = metric_confidence_interval(contract.gate.metric, y, scores, alpha=alpha,
                                                  threshold=contract.gate.threshold)
    se = (high - low) / (2 * norm.ppf(1 - alpha))
    return {"ct.holdout_metric": f"{value:.6f}", "ct.holdout_metric_se": f"{se:.6f}",
            "ct.holdout_metric_name": contract.gate.metric}


def evaluate_challenger(paths: PlatformPaths, contract: Contract, window: dict, trained: dict) -> dict:
    """Score champion and challenger on the same holdout, decide, record, and register the challenger."""
    _, holdout = read_window(paths, contract, window)
    y = holdout[contract.target].to_numpy()
    challenger = ScoringModel.load(download_run_artifact(paths, trained["run_id"], "model"))
    challenger_scores = challenger.predict(holdout)
    ensure_registered_model(paths, contract.model_name, contract.description)
    champion = version_by_alias(paths, contract.model_name, CHAMPION)
    champion_scores = load_scoring_model(paths, champion).predict(holdout) if champion else None
    context = {"champion_version": champion.version if champion else None, "holdout_rev": window["data_rev"],
               "holdout_start": window["holdout_start"], "reason": window["reason"]}
    decision = evaluate_gate(contract.gate, y, challenger_scores, champion_scores, context, holdout=holdout,
                             predict=challenger.predict, slices=contract.slices, timestamp=contract.timestamp)
    logger.info("gate decision\n%s", decision.markdown())
    _log_decision(paths, trained["run_id"], decision)
    data_version = {"rev": window["data_rev"], "md5": window["md5"], "batches": window["batches"]}
    window_info = {"start": window["start"], "end": window["end"], "rows": trained["train_rows"],
                   "holdout_start": window["holdout_start"], "holdout_rows": len(holdout)}
    tags = release_bundle(contract, data_version=data_version, holdout_version=data_version, window=window_info,
                          seed=trained["seed"], device=trained["device"], device_name=trained["device_name"])
    tags.update({"ct." + k: v for k, v in decision.summary_tags().items()})
    tags.update(_holdout_metric_tags(contract, y, challenger_scores))
    tags["ct.reason"] = window["reason"]
    # How it was trained, on the version too: `ct reproduce` needs the starting weights of a fine-tuned model.
    tags.update({"ct.precision": trained.get("precision", "fp32"), "ct.warm_start": trained.get("warm_start", ""),
                 "ct.warm_start_version": trained.get("warm_start_version") or "",
                 "ct.cpu_fallback": trained.get("cpu_fallback") or ""})
    version = register_version(paths, contract.model_name, trained["run_id"], trained["artifact_uri"], tags)
    record = {"decision": decision.decision, "decision_id": decision.decision_id, "reason": decision.reason,
              "version": version.version, "champion_version": context["champion_version"],
              "metric": decision.metric, "challenger_value": decision.challenger_value,
              "champion_value": decision.champion_value, "p_value": (decision.comparison or {}).get("p_value"),
              "effect": (decision.comparison or {}).get("effect"), "n": decision.n,
              "trigger": window["reason"], "run_id": trained["run_id"], "signal_batch": window.get("signal_batch"),
              "blocking_checks": decision.blocking_checks}
    append_event(paths.ledger, contract.name, "gate_decision", batch_id=window.get("signal_batch"), **record)
    return record


def record_retrain_failure(paths: PlatformPaths, contract: Contract, signal: dict, *, run_id: str, task_id: str,
                           error: str) -> dict:
    """A retrain that failed for good: recorded in the ledger, where it ends the pending drift signal (the
    policy would otherwise merge every later drift into a retrain that will never decide)."""
    event = {"run_id": run_id, "task_id": task_id, "reason": signal.get("reason", "manual"),
             "error": error.splitlines()[0][:500] if error else ""}
    append_event(paths.ledger, contract.name, "retrain_failed", batch_id=signal.get("batch_id"), **event)
    logger.error("retrain %s failed in %s: %s; its drift signal no longer blocks new ones", run_id, task_id,
                 event["error"])
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
            raise ValueError(f"refusing to promote version {gate['version']}: the contract requires human approval "
                             f"and the answer is {outcome!r}; approve it in Airflow's Required Actions")
        approved = record_approval(paths, contract, gate, approval)
    previous = promote(paths, contract.model_name, gate["version"])
    event = {"version": gate["version"], "previous": previous, "decision_id": gate["decision_id"],
             "batch_id": gate.get("signal_batch")}
    if approved is not None:
        event.update({"approved_by": approved["approver"], "approver_id": approved["approver_id"],
                      "approved_at": approved["responded_at"]})
    append_event(paths.ledger, contract.name, "champion_changed", **event)
    return event


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
    lines = [f"Gate decision `{decision['decision_id']}`: **{decision['decision']}** version {gate['version']} "
             f"of `{contract.model_name}` (champion now: {champion or 'none, first model'}).", "",
             decision["reason"], "", "| | |", "|---|---|",
             f"| metric | {decision['metric']} ({decision['rule']}, alpha {decision['alpha']}) |",
             f"| holdout rows | {decision['n']} (data version {decision['context'].get('holdout_rev')}) |",
             f"| challenger | {decision['challenger_value']:.4f} |"]
    if comparison:
        lines += [f"| champion | {decision['champion_value']:.4f} |",
                  f"| effect (challenger - champion) | {comparison['effect']:+.4f} |",
                  f"| CI of effect | [{comparison['ci_low']:.4f}, {comparison['ci_high']:.4f}] |",
                  f"| test, one-sided p | {comparison['test']}, {comparison['p_value']:.3g} |",
                  f"| minimum detectable effect | {comparison['mde']:.4f} |"]
    if decision.get("ci_low") is not None:
        lines.append(f"| CI of metric | [{decision['ci_low']:.4f}, {decision['ci_high']:.4f}] |")
    lines += [f"| p ({row['metric']}), Holm-adjusted | {row['p_value']:.3g}, {row['p_adjusted']:.3g} |"
              for row in decision.get("metrics", []) if row.get("p_adjusted") is not None]
    checks = [f"{len(decision.get('slices', []))} slices", f"{len(decision.get('behaviour', []))} behavioural tests"]
    timeout = contract.gate.approval.timeout
    lines += ["", f"Checks: {', '.join(checks)}, none blocking. Full record: `ct gate show {gate['version']} "
              f"--contract {contract.name}`.", "",
              f"**Approve** moves the `champion` alias to version {gate['version']}. **Reject** keeps the champion "
              f"and records your rejection. No answer within {timeout} counts as a rejection."]
    return "\n".join(lines) + "\n"


def approval_outcome(response: dict | None) -> dict:
    """Who answered the approval request, when, and what it means: approved, rejected or timed out."""
    if not response or not response.get("chosen_options"):
        raise ValueError("no answer to the approval request: expected the ApprovalOperator's result "
                         "{chosen_options, responded_by_user, responded_at}")
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
    return {"outcome": outcome, "approver": user["name"] if user else None, "approver_id": user["id"] if user else None,
            "responded_at": responded_at.isoformat() if hasattr(responded_at, "isoformat") else responded_at}


def record_approval(paths: PlatformPaths, contract: Contract, gate: dict, response: dict | None) -> dict:
    """Record a person's answer to a passing gate: version tags, the run's gate/approval.json, a ledger event.

    Idempotent: a retried task finds its ledger event and writes nothing twice.
    """
    record = {"version": gate["version"], "decision_id": gate["decision_id"], "run_id": gate["run_id"],
              **approval_outcome(response)}
    done = [e for e in read_events(paths.ledger, contract.name, ["approval"])
            if e.get("version") == record["version"] and e.get("decision_id") == record["decision_id"]]
    if done:
        return {k: done[-1].get(k) for k in record}
    tags = {"ct.approval": record["outcome"], "ct.approver": record["approver"] or "",
            "ct.approver_id": record["approver_id"] or "", "ct.approval_at": record["responded_at"] or ""}
    set_version_tags(paths, contract.model_name, gate["version"], tags)
    client(paths).log_dict(gate["run_id"], record, APPROVAL_ARTIFACT)
    append_event(paths.ledger, contract.name, "approval", batch_id=gate.get("signal_batch"), **record)
    logger.info("version %s: %s by %s at %s", record["version"], record["outcome"], record["approver"] or "nobody",
                record["responded_at"])
    return record


def record_rejection(paths: PlatformPaths, contract: Contract, gate: dict, response: dict | None) -> dict:
    """A passing gate that a person rejected (or nobody answered in time): recorded, the champion stays."""
    if approval_outcome(response)["outcome"] == APPROVED:
        raise ValueError(f"version {gate['version']} was approved but not promoted: promote_champion did not run; "
                         "clear it in Airflow to promote")
    record = record_approval(paths, contract, gate, response)
    logger.warning("version %s not promoted: %s by %s; champion unchanged", record["version"], record["outcome"],
                   record["approver"] or "nobody (timeout)")
    return record


def approval_markdown(record: dict) -> str:
    """The approval lines of ``ct gate show``."""
    who = f"{record['approver']} (id {record['approver_id']})" if record.get("approver") else "nobody (timed out)"
    return "\n".join(["", "## Human approval", "", "| field | value |", "|---|---|",
                      f"| outcome | {record['outcome']} |", f"| approver | {who} |",
                      f"| answered at | {record.get('responded_at')} |"]) + "\n"
