"""Monitor each validated batch: champion scores, Evidently drift report, drift policy, drift signal.

One DAG per contract (`ct_monitor_<contract>`), scheduled on the contract's `validated_batch` asset.
Manual runs (and `ct simulate`) pass `batch_id` and `data_rev` as params instead. When the policy confirms
drift (debounce, cooldown, merging of pending signals), `emit_drift_signal` emits the `drift_signal`
asset event carrying the reason, the report and the drifted columns; that event starts the retrain DAG.
"""

from __future__ import annotations

from airflow.sdk import DAG, Metadata, Param, get_current_context, task
from ct_platform import assets, dagkit


def _ingested_batches(name: str) -> list[dict]:
    """Batches to monitor: every triggering asset event (several may collapse into one run), or params."""
    context = get_current_context()
    events = context["triggering_asset_events"].get(assets.validated_batch(name), [])
    batches = [dict(event.extra) for event in events if event.extra.get("batch_id")]
    if batches:
        return batches
    params = context["params"]
    if not params.get("batch_id"):
        raise ValueError("a manual run of the monitor needs params batch_id and data_rev")
    return [{"batch_id": params["batch_id"], "data_version": {"rev": params["data_rev"]},
             "period_start": params.get("period_start")}]


def build_monitor_dag(contract) -> DAG:
    name = contract.name
    with DAG(
        dag_id=f"ct_monitor_{name}",
        description=f"Score, report drift and decide for {name}",
        schedule=[assets.validated_batch(name)],
        max_active_runs=1,
        catchup=False,
        default_args=dagkit.DEFAULT_ARGS,
        doc_md=__doc__,
        tags=["ct", name, "monitor"],
        params={"batch_id": Param("", type="string"), "data_rev": Param("", type="string"),
                "period_start": Param("", type="string")},
    ) as dag:

        @task
        def score_and_report() -> list[dict]:
            from ml.steps.monitor import monitor_batch

            return [monitor_batch(dagkit.paths(), dagkit.contract_by_name(name), batch)
                    for batch in _ingested_batches(name)]

        @task.short_circuit
        def drift_confirmed(monitored: list[dict]) -> dict | None:
            from ml.steps.monitor import decide_drift

            decisions = [decide_drift(dagkit.paths(), dagkit.contract_by_name(name), m) for m in monitored]
            confirmed = [d["signal"] for d in decisions if d["confirmed"]]
            return confirmed[-1] if confirmed else None

        @task(outlets=[assets.drift_signal(name)])
        def emit_drift_signal(signal: dict):
            yield Metadata(assets.drift_signal(name), signal)
            return signal  # noqa: B901 - Airflow exhausts the generator and pushes this value to XCom

        emit_drift_signal(drift_confirmed(score_and_report()))
    return dag


for _contract in dagkit.contracts():
    globals()[f"ct_monitor_{_contract.name}"] = build_monitor_dag(_contract)
