"""Join a batch's delayed labels into its data version and judge the champion on them.

One DAG per contract whose labels arrive after its batches (`labels.arrive: delayed`), `ct_labels_<contract>`,
running continuously, one run at a time. `wait_for_labels` is the ingest DAG's deferrable `LandingSensor` on
`landing/<contract>/labels/` (a label file, then its manifest written last). `validate_labels` checks the file
against the batch the champion scored: exactly its rows, each once (no unknown, missing or duplicated key),
target values valid for the task; a bad file is moved to `quarantine/<contract>/labels-<batch>/` with its
reason, and the task fails red without retries. `join_labels` gives the batch's file its target column as a new
git + DVC data version (later training windows learn from it) and emits `ct.<contract>.labelled_batch`.
`evaluate_labels` compares the scores the champion gave the batch (its prediction log) with the labels: the
performance test against the version's holdout metric, and an Evidently report (target drift, quality beside
the champion's validation numbers; HTML and JSON under `reports/<contract>/`, added to the Evidently
workspace, linked from the task), then appends the batch's updated `batch_monitored` record. `decide_drift`
applies the contract's drift policy to it; a confirmed signal (reason `performance`) is emitted by
`ct_drift_<contract>`'s DriftSensor, which starts the retrain.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Metadata, get_current_context, task
from ct_platform import assets, dagkit
from ct_platform.sensors import LandingSensor


def build_labels_dag(contract) -> DAG:
    name = contract.name
    description = f"Join delayed labels of {name} and judge the champion on them"
    with dagkit.continuous_dag(contract, "labels", description, __doc__) as dag:
        wait = LandingSensor(task_id="wait_for_labels", folder=str(dagkit.paths().labels_landing(name)))

        # Labels that land before the monitor scored their batch wait for it: retried for about five minutes.
        @task(retries=10, retry_delay=timedelta(seconds=30))
        def validate_labels(manifest: str) -> dict:
            from airflow.sdk.exceptions import AirflowFailException

            from ml.steps.labels import LabelsRejected, validate_landed_labels

            try:
                return validate_landed_labels(dagkit.paths(), dagkit.contract_by_name(name), manifest)
            except LabelsRejected as rejected:  # a bad file stays bad: no retries (labels not scored yet do retry)
                raise AirflowFailException(str(rejected)) from None

        @task(outlets=[assets.labelled_batch(name)], pool="dvc_writes")
        def join_labels(validated: dict):
            from ml.steps.labels import commit_landed_labels

            event = commit_landed_labels(dagkit.paths(), dagkit.contract_by_name(name), validated)
            yield Metadata(assets.labelled_batch(name), event)
            return event  # noqa: B901 - Airflow exhausts the generator and pushes this value to XCom

        @task
        def evaluate_labels(ingested: dict) -> dict:
            from ct_platform.reports import push_report_link

            from ml.steps.labels import evaluate_labels as evaluate

            record = evaluate(dagkit.paths(), dagkit.contract_by_name(name), ingested)
            if record.get("labels_report_html"):
                push_report_link(get_current_context(), record["labels_report_html"])
            return record

        @task
        def decide_drift(record: dict) -> dict:
            from ml.steps.monitor import decide_drift as decide

            return decide(dagkit.paths(), dagkit.contract_by_name(name), record)

        decide_drift(evaluate_labels(join_labels(validate_labels(wait.output))))
    return dag


for _contract in dagkit.contracts():
    if _contract.labels_delayed:  # a contract whose labels come with the batch has no label files to wait for
        globals()[f"ct_labels_{_contract.name}"] = build_labels_dag(_contract)
