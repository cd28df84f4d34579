"""Retrain on a drift signal (or a cron fallback, or by hand), gate the challenger, promote or reject.

One DAG per contract (`ct_retrain_<contract>`), scheduled on the contract's `drift_signal` asset OR its
`training.retrain_cron`. Training window pinned to a data version -> challenger trained (GPU when present,
else CPU; queue and pool `gpu`) -> champion and challenger scored on the same out-of-time holdout, paired test
-> model version registered with its release bundle -> `champion` alias moved only on a pass.
Manual runs pass `reason` (and optionally `data_rev`) as params.
"""

from __future__ import annotations

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, Metadata, Param, get_current_context, task
from ct_platform import assets, dagkit


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


def build_retrain_dag(contract) -> DAG:
    name = contract.name
    with DAG(
        dag_id=f"ct_retrain_{name}",
        description=f"Train, gate and promote a challenger for {name}",
        schedule=_schedule(contract),
        max_active_runs=1,
        catchup=False,
        default_args=dagkit.DEFAULT_ARGS,
        doc_md=__doc__,
        tags=["ct", name, "retrain"],
        params={"reason": Param("", type="string", description="why: manual, schedule, ... (empty: inferred)"),
                "data_rev": Param("", type="string", description="data revision to train on (empty: newest)"),
                "signal": Param({}, type="object")},
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
        def promote_champion(gate: dict):
            from ml.steps.retrain import promote_challenger

            event = promote_challenger(dagkit.paths(), dagkit.contract_by_name(name), gate)
            yield Metadata(assets.champion(name), event)
            return event  # noqa: B901 - Airflow exhausts the generator and pushes this value to XCom

        window = pin_training_window()
        gate = evaluate_gate(window, train_challenger(window))
        gate_passed(gate) >> promote_champion(gate)
    return dag


for _contract in dagkit.contracts():
    globals()[f"ct_retrain_{_contract.name}"] = build_retrain_dag(_contract)
