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
from ml.ledger import append_event
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
    version_by_alias,
)
from ml.settings import PlatformPaths
from ml.steps.monitor import PREDICTION, REFERENCE_ARTIFACT
from ml.train import train_model
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


def _dataset(paths: PlatformPaths, contract: Contract, rev: str) -> pd.DataFrame:
    return read_dataset(paths.data_repo, contract.name, rev, order_by=contract.timestamp, cache_dir=paths.cache)


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
    frame = _dataset(paths, contract, rev)
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
              "signal_batch": signal.get("batch_id")}
    logger.info("training window: %s", window)
    return window


def _split_window(paths: PlatformPaths, contract: Contract, window: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = _dataset(paths, contract, window["data_rev"])
    stamps = frame[contract.timestamp]
    in_window = frame[(stamps >= pd.Timestamp(window["start"])) & (stamps <= pd.Timestamp(window["end"]))]
    holdout_from = pd.Timestamp(window["holdout_start"])
    return (in_window[in_window[contract.timestamp] < holdout_from],
            in_window[in_window[contract.timestamp] >= holdout_from])


def _reference_sample(train: pd.DataFrame, contract: Contract, model: ScoringModel, seed: int) -> pd.DataFrame:
    """Training rows with the model's predictions: the drift reference stored beside the model."""
    sample = train.sample(n=min(REFERENCE_ROWS, len(train)), random_state=seed).sort_values(contract.timestamp)
    return sample.assign(**{PREDICTION: model.predict(sample)})


def train_challenger(paths: PlatformPaths, contract: Contract, window: dict, seed: int | None = None) -> dict:
    """Train on the window minus its holdout; log everything to a new MLflow run; return the run's ids."""
    import mlflow

    train, _ = _split_window(paths, contract, window)
    result = train_model(train, contract, seed=seed)
    client(paths)
    experiment = ensure_experiment(paths, contract.name)
    with mlflow.start_run(experiment_id=experiment, run_name=f"retrain-{window['reason']}") as run:
        mlflow.log_params({"seed": result.seed, "window_rows": len(train), "window_start": window["start"],
                           "holdout_start": window["holdout_start"], "data_rev": window["data_rev"],
                           "reason": window["reason"], **contract.training.model_dump(exclude={"window", "model"}),
                           "model": json.dumps(contract.training.model.model_dump())})
        for row in result.history:
            mlflow.log_metrics({"train_loss": row["train_loss"], "val_loss": row["val_loss"]}, step=row["epoch"])
        mlflow.log_metrics({"rows_per_second": result.rows_per_second, "best_epoch": result.best_epoch})
        mlflow.set_tags({"ct.device": result.device, "ct.device_name": result.device_name,
                         "ct.cpu_fallback": result.fallback_reason or "", "ct.contract": contract.name})
        with tempfile.TemporaryDirectory() as tmp:
            result.model.save(Path(tmp) / "model")
            mlflow.log_artifacts(str(Path(tmp) / "model"), "model")
            reference = Path(tmp) / Path(REFERENCE_ARTIFACT).name
            _reference_sample(train, contract, result.model, result.seed).to_parquet(reference, index=False)
            mlflow.log_artifact(str(reference), str(Path(REFERENCE_ARTIFACT).parent))
    return {"run_id": run.info.run_id, "artifact_uri": run.info.artifact_uri, "device": result.device,
            "device_name": result.device_name, "seed": result.seed, "best_epoch": result.best_epoch,
            "train_rows": len(train)}


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
    _, holdout = _split_window(paths, contract, window)
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


def promote_challenger(paths: PlatformPaths, contract: Contract, gate: dict) -> dict:
    """Move the champion alias to the gated version (last step: every record is already written)."""
    if gate["decision"] != "promote":
        raise ValueError(f"refusing to promote version {gate['version']}: gate decision is {gate['decision']}")
    previous = promote(paths, contract.model_name, gate["version"])
    event = {"version": gate["version"], "previous": previous, "decision_id": gate["decision_id"],
             "batch_id": gate.get("signal_batch")}
    append_event(paths.ledger, contract.name, "champion_changed", **event)
    return event
