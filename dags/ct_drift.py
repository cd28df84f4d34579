"""Turn policy-confirmed drift into the drift asset event that starts the retrain DAG.

One DAG per contract (`ct_drift_<contract>`), running continuously, one run at a time. Its only task,
`wait_for_drift`, is a `DriftSensor` (plugins/ct_platform/sensors.py): deferred in the triggerer (no worker slot)
until the monitor's drift policy has confirmed a signal (debounce, cooldown, merging, acknowledged columns;
see ml/drift_policy.py), then it emits the `drift_signal` asset event whose extra carries the reason
(`data_drift`, `prediction_drift`, `performance`, `bootstrap`), the batch, the drift onset, the data revision,
the drifted columns and the paths of the Evidently report. Each finished run is one emitted signal; the
next run starts waiting again at once.
"""

from __future__ import annotations

from airflow.sdk import DAG
from ct_platform import dagkit
from ct_platform.sensors import DriftSensor


def build_drift_dag(contract) -> DAG:
    description = f"Emit a drift asset event when the drift policy confirms drift for {contract.name}"
    with dagkit.continuous_dag(contract, "drift", description, __doc__) as dag:
        DriftSensor(task_id="wait_for_drift", contract=contract.name)
    return dag


for _contract in dagkit.contracts():
    globals()[f"ct_drift_{_contract.name}"] = build_drift_dag(_contract)
