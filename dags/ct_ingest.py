"""Ingest a contract's batches: wait for a manifest in landing, validate it, commit a data version.

One DAG per contract (`ct_ingest_<contract>`), running continuously, one run at a time. A batch that
fails its contract's checks is moved to `quarantine/<contract>/<batch>/` with a reason file, and
`validate_batch` fails red with the same reason (its "Data Docs" link opens the batch's Great Expectations
page); later batches keep flowing. A passing batch becomes one
git + DVC data version and emits the `validated_batch` asset event that starts the monitor.

When no batch lands within the contract's `freshness.no_batch_within`, `wait_for_batch` fails red and its
failure callback raises an alert: a `freshness_alert` ledger event, then the hooks named in
`CT_ALERT_CALLBACK` (see `plugins/ct_platform/alerts.py`).
"""

from __future__ import annotations

from airflow.sdk import DAG, Metadata, task
from ct_platform import assets, dagkit
from ct_platform.alerts import FeedAlert
from ct_platform.operators import ValidateBatchOperator
from ct_platform.sensors import LandingSensor


def build_ingest_dag(contract) -> DAG:
    name = contract.name
    with dagkit.continuous_dag(contract, "ingest", f"Validate and version batches of {name}", __doc__) as dag:
        landing = str(dagkit.paths().landing_for(name))
        sla = contract.freshness.no_batch_within
        wait = LandingSensor(
            task_id="wait_for_batch",
            folder=landing,
            timeout=dagkit.silence_timeout(contract),
            sla=sla,
            retries=0,
            on_failure_callback=FeedAlert(name, sla, landing),
        )

        validate = ValidateBatchOperator(task_id="validate_batch", contract=name, manifest=wait.output, retries=0)

        @task(outlets=[assets.validated_batch(name)], pool="dvc_writes")
        def commit_version(validated: dict):
            from ml.steps.ingest import commit_validated_batch

            event = commit_validated_batch(dagkit.paths(), dagkit.contract_by_name(name), validated)
            yield Metadata(assets.validated_batch(name), event)
            return event  # noqa: B901 - Airflow exhausts the generator and pushes this value to XCom

        commit_version(validate.output)
    return dag


for _contract in dagkit.contracts():
    globals()[f"ct_ingest_{_contract.name}"] = build_ingest_dag(_contract)
