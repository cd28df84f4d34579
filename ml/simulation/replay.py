"""The direct engine: a scenario replayed through the loop's steps in this process, without Airflow.

Used by ``ct simulate --engine direct`` and by benchmarks to measure the work apart from orchestration.
The Airflow engine (``ct simulate``, the default) runs the very same step functions inside real DAG runs, in
the same order: ingest (validate, commit), monitor (score and report, decide drift), the drift sensor (take
the oldest unemitted signal, record it emitted), retrain (pin the window, train, gate, then, where the
contract asks for it, the approval request and a person's answer, and promote or record the rejection), and
for delayed labels the labels DAG (validate, join, evaluate, decide drift). Where they differ:

- the person answering an approval is a scripted answer (``approver``; by default every passing gate is
  approved by ``direct-engine``), where Airflow waits for someone in its Required Actions;
- a rejected batch or label file is skipped (its DAG run would fail red), and a retrain that raises is recorded
  as ``retrain_failed`` (what the retrain DAG's failure callback does) and then stops the replay, where Airflow
  would retry the task first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ml.contract import Contract
from ml.data.batches import ready_manifests
from ml.drift.signals import next_signal, record_emitted
from ml.gate.approval import APPROVE_OPTION, APPROVED, approval_outcome, approval_request, record_rejection
from ml.settings import PlatformPaths
from ml.simulation.scenario import Scenario, land, plan_batches
from ml.simulation.sources import load_source
from ml.steps.ingest import BatchRejected, commit_validated_batch, validate_landed_batch
from ml.steps.monitor import decide_drift, monitor_batch
from ml.steps.retrain import (
    evaluate_challenger,
    pin_training_window,
    promote_challenger,
    record_retrain_failure,
    train_challenger,
)

logger = logging.getLogger(__name__)

# A person's answer to an approval request, as Airflow's ApprovalOperator returns it: gate record -> answer.
Approver = Callable[[dict], dict]


def scripted_answer(option: str = APPROVE_OPTION, user: str = "direct-engine") -> Approver:
    """An approver that always answers ``option`` (Approve or Reject) as ``user``."""

    def answer(gate: dict) -> dict:
        return {
            "chosen_options": [option],
            "responded_by_user": {"id": user, "name": user},
            "responded_at": datetime.now(UTC).isoformat(),
        }

    return answer


def _decide_release(paths: PlatformPaths, contract: Contract, gate: dict, approver: Approver) -> None:
    """The retrain DAG after its gate: promote, or ask for approval first and promote or record the rejection."""
    if gate["decision"] != "promote":
        return
    if not contract.gate.approval.required:
        promote_challenger(paths, contract, gate)
        return
    logger.info("approval request:\n%s", approval_request(paths, contract, gate))
    answer = approver(gate)
    if approval_outcome(answer)["outcome"] == APPROVED:
        promote_challenger(paths, contract, gate, answer)
    else:
        record_rejection(paths, contract, gate, answer)


def retrain_direct(paths: PlatformPaths, contract: Contract, signal: dict, approver: Approver | None = None) -> dict:
    """The retrain DAG's steps for ``signal``; a failure is recorded as the DAG's failure callback records it."""
    task = "pin_training_window"
    try:
        window = pin_training_window(paths, contract, signal)
        task = "train_challenger"
        trained = train_challenger(paths, contract, window)
        task = "evaluate_gate"
        gate = evaluate_challenger(paths, contract, window, trained)
        task = "promote_champion"
        _decide_release(paths, contract, gate, approver or scripted_answer())
    except Exception as error:
        record_retrain_failure(paths, contract, signal, run_id="direct", task_id=task, error=str(error))
        raise
    return gate


def _retrain_on_signal(paths: PlatformPaths, contract: Contract, approver: Approver | None) -> None:
    # Without Airflow there is no drift sensor: the signal is taken here, and recorded as emitted so that an
    # Airflow deployment on the same home does not retrain on it again.
    signal = next_signal(paths.ledger, contract.name)
    if signal is not None:
        record_emitted(paths.ledger, contract.name, signal, run_id="direct")
        retrain_direct(paths, contract, signal, approver)


def _process_manifests(
    paths: PlatformPaths,
    contract: Contract,
    folder: Path,
    validate: Callable,
    rejected: type[Exception],
    commit: Callable,
    judge: Callable,
    approver: Approver | None = None,
) -> None:
    """The steps of one landing DAG for every manifest in ``folder``: validate (a rejected file is skipped, as its
    DAG run fails red), commit, judge, decide, and retrain on a confirmed signal."""
    for manifest in ready_manifests(folder):
        try:
            validated = validate(paths, contract, str(manifest))
        except rejected as error:
            logger.warning("%s", error)
            continue
        decide_drift(paths, contract, judge(paths, contract, commit(paths, contract, validated)))
        _retrain_on_signal(paths, contract, approver)


def process_landing_direct(paths: PlatformPaths, contract: Contract, approver: Approver | None = None) -> None:
    """Ingest, monitor and (on a signal) retrain every batch waiting in the contract's landing folder; then
    join and evaluate every label file waiting in its labels folder (contracts with delayed labels)."""
    _process_manifests(
        paths,
        contract,
        paths.landing_for(contract.name),
        validate_landed_batch,
        BatchRejected,
        commit_validated_batch,
        monitor_batch,
        approver,
    )
    if contract.labels_delayed:
        process_labels_direct(paths, contract, approver)


def process_labels_direct(paths: PlatformPaths, contract: Contract, approver: Approver | None = None) -> None:
    """The labels DAG's steps for every label file waiting in ``landing/<contract>/labels/``."""
    from ml.steps.labels import LabelsRejected, commit_landed_labels, evaluate_labels, validate_landed_labels

    _process_manifests(
        paths,
        contract,
        paths.labels_landing(contract.name),
        validate_landed_labels,
        LabelsRejected,
        commit_landed_labels,
        evaluate_labels,
        approver,
    )


def replay_direct(
    paths: PlatformPaths,
    contract: Contract,
    scenario: Scenario,
    *,
    max_batches: int | None = None,
    after_batch: Callable[[str], None] | None = None,
    approver: Approver | None = None,
) -> None:
    """Land the scenario's batches one by one, each processed by every step before the next lands."""
    source = load_source(contract)
    for count, batch in enumerate(plan_batches(scenario, contract, source)):
        if max_batches is not None and count >= max_batches:
            break
        land(batch, contract, paths.landing_for(contract.name))
        process_landing_direct(paths, contract, approver)
        if after_batch:
            after_batch(batch.batch_id)
