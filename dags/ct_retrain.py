"""Retrain on a drift signal (or a cron fallback, or by hand), gate the challenger, promote or reject.

One DAG per contract (`ct_retrain_<contract>`), scheduled on the contract's `drift_signal` asset OR its
`training.retrain_cron`. Training window pinned to a data version -> challenger trained (GPU when present,
else CPU; queue and pool `gpu`) -> champion and challenger scored on the same out-of-time holdout, paired test
-> model version registered with its release bundle -> `champion` alias moved only on a pass.
When the contract sets `gate.approval.required`, a passing gate waits in `approve_promotion` (Airflow's
ApprovalOperator: Browse -> Required Actions) and only "Approve" promotes; a rejection, or no answer within
`gate.approval.timeout`, is recorded by `record_rejection` and the champion stays.
Manual runs pass `reason` (and optionally `data_rev`) as params.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import (
    DAG,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Metadata,
    Param,
    XComArg,
    get_current_context,
    task,
)
from ct_platform import assets, dagkit
from ct_platform.approval import ANSWER_KEY, GateApprovalOperator

from ml.contract import duration_seconds

APPROVAL_TASK = "approve_promotion"


def _signal(name: str) -> dict:
    """The drift signal that started this run; a cron run is `schedule`, a manual run uses params."""
    context = get_current_context()
    events = context["triggering_asset_events"].get(assets.drift_signal(name), [])
    if events:
        return dict(events[-1].extra)
    params = context["params"]
    signal = dict(params.get("signal") or {})
    fallback = "schedule" if str(context["dag_run"].run_type).endswith("scheduled") else "manual"
    signal.setdefault("reason", params.get("reason") or fallback)
    return signal


def _schedule(contract):
    if contract.training.retrain_cron:
        # No start_date and run_immediately=False: the first cron run waits for the next tick instead of
        # firing the moment the DAG appears.
        cron = CronTriggerTimetable(contract.training.retrain_cron, timezone="UTC", run_immediately=False)
        return AssetOrTimeSchedule(timetable=cron, assets=[assets.drift_signal(contract.name)])
    return [assets.drift_signal(contract.name)]


def _approval_macros(name: str) -> dict:
    def approval_request(gate: dict) -> str:
        from ml.gate.approval import approval_request as request

        return request(dagkit.paths(), dagkit.contract_by_name(name), gate)

    return {"approval_request": approval_request}


def _approval(contract) -> GateApprovalOperator:
    """Airflow's own approval step; no answer within the timeout takes the default, Reject."""
    spec = contract.gate.approval
    return GateApprovalOperator(
        task_id=APPROVAL_TASK,
        subject=spec.subject
        or f"Promote {contract.model_name} version "
        "{{ ti.xcom_pull(task_ids='evaluate_gate')['version'] }} to champion?",
        body="{{ approval_request(ti.xcom_pull(task_ids='evaluate_gate')) }}",
        defaults=GateApprovalOperator.REJECT,
        response_timeout=timedelta(seconds=duration_seconds(spec.timeout)),
        assigned_users=[{"id": user, "name": user} for user in spec.approvers] or None,
    )


def _failure_recorder(name: str):
    """on_failure_callback of every retrain task: a retrain that failed for good (retries spent) is written to
    the ledger, which frees its drift signal so that the next confirmed drift can start a new retrain."""

    def record(context) -> None:
        from ml.steps.retrain import record_retrain_failure

        events = context["triggering_asset_events"].get(assets.drift_signal(name), [])
        signal = dict(events[-1].extra) if events else dict(context["params"].get("signal") or {})
        record_retrain_failure(
            dagkit.paths(),
            dagkit.contract_by_name(name),
            signal,
            run_id=context["run_id"],
            task_id=context["ti"].task_id,
            error=str(context.get("exception") or ""),
        )

    return record


def build_retrain_dag(contract) -> DAG:
    name = contract.name
    approval_required = contract.gate.approval.required
    with DAG(
        dag_id=f"ct_retrain_{name}",
        description=f"Train, gate and promote a challenger for {name}",
        schedule=_schedule(contract),
        max_active_runs=1,
        catchup=False,
        default_args={**dagkit.DEFAULT_ARGS, "on_failure_callback": _failure_recorder(name)},
        doc_md=__doc__,
        tags=["ct", name, "retrain"],
        params={
            "reason": Param("", type="string", description="why: manual, schedule, ... (empty: inferred)"),
            "data_rev": Param("", type="string", description="data revision to train on (empty: newest)"),
            "signal": Param({}, type="object"),
        },
        user_defined_macros=_approval_macros(name) if approval_required else None,
    ) as dag:

        @task
        def pin_training_window() -> dict:
            from ml.steps.retrain import pin_training_window as pin

            params = get_current_context()["params"]
            return pin(dagkit.paths(), dagkit.contract_by_name(name), _signal(name), params.get("data_rev") or None)

        @task(pool="gpu", queue="gpu")
        def train_challenger(window: dict) -> dict:
            from ml.steps.retrain import train_challenger as train

            return train(dagkit.paths(), dagkit.contract_by_name(name), window)

        @task
        def evaluate_gate(window: dict, trained: dict) -> dict:
            from ml.steps.retrain import evaluate_challenger

            return evaluate_challenger(dagkit.paths(), dagkit.contract_by_name(name), window, trained)

        @task.short_circuit
        def gate_passed(gate: dict) -> bool:
            return gate["decision"] == "promote"

        @task(outlets=[assets.champion(name)])
        def promote_champion(gate: dict, approval: dict | None = None):
            from ml.steps.retrain import promote_challenger

            event = promote_challenger(dagkit.paths(), dagkit.contract_by_name(name), gate, approval)
            yield Metadata(assets.champion(name), event)
            return event  # noqa: B901 - Airflow exhausts the generator and pushes this value to XCom

        # Runs only when the approval skipped promote_champion (a rejection or a timeout). It pulls its inputs
        # instead of taking them as arguments: that would make it a direct downstream of the approval, which
        # a rejection skips.
        @task(trigger_rule="all_skipped")
        def record_rejection() -> dict:
            from ml.gate.approval import record_rejection as record

            ti = get_current_context()["ti"]
            return record(
                dagkit.paths(),
                dagkit.contract_by_name(name),
                ti.xcom_pull(task_ids="evaluate_gate"),
                ti.xcom_pull(task_ids=APPROVAL_TASK, key=ANSWER_KEY),
            )

        window = pin_training_window()
        gate = evaluate_gate(window, train_challenger(window))
        if approval_required:
            approval = _approval(contract)
            promoted = promote_champion(gate, XComArg(approval, key=ANSWER_KEY))
            gate_passed(gate) >> approval >> promoted >> record_rejection()
        else:
            gate_passed(gate) >> promote_champion(gate)
    return dag


for _contract in dagkit.contracts():
    globals()[f"ct_retrain_{_contract.name}"] = build_retrain_dag(_contract)
