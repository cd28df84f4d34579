"""Replaying a scenario through the loop's steps in this process, without Airflow.

Used by ``ct simulate --engine direct`` and by benchmarks to measure the work apart from orchestration.
The Airflow engine (``ct simulate``, the default) runs the very same step functions inside real DAG runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ml.batches import ready_manifests
from ml.contract import Contract
from ml.drift_signals import next_signal, record_emitted
from ml.labels import labels_landing
from ml.scenario import Scenario, land, plan_batches
from ml.settings import PlatformPaths
from ml.sources import load_source
from ml.steps.ingest import BatchRejected, commit_validated_batch, validate_landed_batch
from ml.steps.monitor import decide_drift, monitor_batch
from ml.steps.retrain import evaluate_challenger, pin_training_window, promote_challenger, train_challenger

logger = logging.getLogger(__name__)


def retrain_direct(paths: PlatformPaths, contract: Contract, signal: dict) -> dict:
    window = pin_training_window(paths, contract, signal)
    gate = evaluate_challenger(paths, contract, window, train_challenger(paths, contract, window))
    if gate["decision"] == "promote":
        promote_challenger(paths, contract, gate)
    return gate


def _retrain_on_signal(paths: PlatformPaths, contract: Contract) -> None:
    # Without Airflow there is no drift sensor: the signal is taken here, and recorded as emitted so that an
    # Airflow deployment on the same home does not retrain on it again.
    signal = next_signal(paths.ledger, contract.name)
    if signal is not None:
        record_emitted(paths.ledger, contract.name, signal, run_id="direct")
        retrain_direct(paths, contract, signal)


def _process_manifests(paths: PlatformPaths, contract: Contract, folder: Path, validate: Callable,
                       rejected: type[Exception], commit: Callable, judge: Callable) -> None:
    """The steps of one landing DAG for every manifest in ``folder``: validate (a rejected file is skipped, as its
    DAG run fails red), commit, judge, decide, and retrain on a confirmed signal."""
    for manifest in ready_manifests(folder):
        try:
            validated = validate(paths, contract, str(manifest))
        except rejected as error:
            logger.warning("%s", error)
            continue
        decide_drift(paths, contract, judge(paths, contract, commit(paths, contract, validated)))
        _retrain_on_signal(paths, contract)


def process_landing_direct(paths: PlatformPaths, contract: Contract) -> None:
    """Ingest, monitor and (on a signal) retrain every batch waiting in the contract's landing folder; then
    join and evaluate every label file waiting in its labels folder (contracts with delayed labels)."""
    _process_manifests(paths, contract, paths.landing_for(contract.name), validate_landed_batch, BatchRejected,
                       commit_validated_batch, monitor_batch)
    if contract.labels_delayed:
        process_labels_direct(paths, contract)


def process_labels_direct(paths: PlatformPaths, contract: Contract) -> None:
    """The labels DAG's steps for every label file waiting in ``landing/<contract>/labels/``."""
    from ml.steps.labels import LabelsRejected, commit_landed_labels, evaluate_labels, validate_landed_labels

    _process_manifests(paths, contract, labels_landing(paths, contract.name), validate_landed_labels,
                       LabelsRejected, commit_landed_labels, evaluate_labels)


def replay_direct(paths: PlatformPaths, contract: Contract, scenario: Scenario, *, max_batches: int | None = None,
                  after_batch: Callable[[str], None] | None = None) -> None:
    source = load_source(contract)
    for count, batch in enumerate(plan_batches(scenario, contract, source)):
        if max_batches is not None and count >= max_batches:
            break
        land(batch, contract, paths.landing_for(contract.name))
        process_landing_direct(paths, contract)
        if after_batch:
            after_batch(batch.batch_id)
