"""Monitor each validated batch: champion scores, Evidently drift report, drift policy, drift signal.

One DAG per contract (`ct_monitor_<contract>`), scheduled on the contract's `validated_batch` asset.
Manual runs (and `ct simulate`) pass `batch_id` and `data_rev` as params instead. `decide_drift` applies the
contract's drift policy (debounce, cooldown, merging of pending signals, acknowledged columns) and writes a
confirmed signal to the ledger; the drift DAG's `DriftSensor` (`ct_drift_<contract>`) then emits the
`drift_signal` asset event, carrying the reason, the report and the drifted columns, that starts the retrain.

Each batch's Evidently report (feature and prediction drift) is saved as HTML and JSON under
`CT_HOME/reports/<contract>/` and added to the Evidently workspace (`evidently ui --workspace CT_HOME/evidently`);
`score_and_report` offers the newest batch's page as its "Evidently report" extra link.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, get_current_context, task
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
    return [
        {
            "batch_id": params["batch_id"],
            "data_version": {"rev": params["data_rev"]},
            "period_start": params.get("period_start"),
        }
    ]


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
        params={
            "batch_id": Param("", type="string"),
            "data_rev": Param("", type="string"),
            "period_start": Param("", type="string"),
        },
    ) as dag:

        @task
        def score_and_report() -> list[dict]:
            from ct_platform.reports import push_report_link

            from ml.steps.monitor import monitor_batch

            monitored = [
                monitor_batch(dagkit.paths(), dagkit.contract_by_name(name), batch) for batch in _ingested_batches(name)
            ]
            push_report_link(get_current_context(), monitored[-1].get("report_html"))  # the newest batch's page
            return monitored

        @task
        def decide_drift(monitored: list[dict]) -> list[dict]:
            from ml.steps.monitor import decide_drift as decide

            return [decide(dagkit.paths(), dagkit.contract_by_name(name), m) for m in monitored]

        decide_drift(score_and_report())
    return dag


for _contract in dagkit.contracts():
    globals()[f"ct_monitor_{_contract.name}"] = build_monitor_dag(_contract)
