"""``ct simulate``: replay a scenario through the platform's DAGs in this process, no servers.

Engine ``airflow`` (default) runs each DAG with ``dag.test()`` against a SQLite metadata DB under
``CT_HOME/airflow``: real task code, XCom, asset outlets and params, without the scheduler. Because
``dag.test()`` does not follow asset events, the driver starts the downstream DAG itself and hands it the
event's content as params (the params fallback every asset-scheduled DAG has for manual runs). The drift DAG
(``@continuous`` in a deployment) is run once whenever the monitor confirmed a signal: its sensor finds the
signal without deferring, emits it, and the driver starts the retrain with that signal. For a contract with
delayed labels, every label file that landed is then taken by the labels DAG (``ct_labels_<contract>``), whose
sensor finds it without deferring, followed by the drift DAG and retrain when its labels confirmed drift.
Engine ``direct`` calls the same step functions without Airflow (for benchmarks).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ct.airflow_env import POOLS, REPO_ROOT, airflow_environment, apply_airflow_environment
from ml.bootstrap import init_platform
from ml.contract import Contract
from ml.data.batches import batch_id_of, ready_manifests
from ml.data.labels import LABELS_KIND as LABEL_FILE_KIND
from ml.drift.signals import next_signal
from ml.ledger import EventKind, read_events
from ml.settings import PlatformPaths
from ml.simulation.scenario import Scenario, land, plan_batches
from ml.simulation.sources import load_source

logger = logging.getLogger(__name__)


def prepare_airflow(paths: PlatformPaths) -> None:
    """Migrate the metadata DB and create the pools (idempotent); sets this process's environment."""
    paths.airflow_home.mkdir(parents=True, exist_ok=True)
    env = airflow_environment(paths)
    airflow = str(Path(sys.executable).with_name("airflow"))
    if not (paths.airflow_home / "airflow.db").exists():
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    for pool, (slots, why) in POOLS.items():
        subprocess.run([airflow, "pools", "set", pool, str(slots), why], env=env, check=True, capture_output=True)
    apply_airflow_environment(paths)


DAG_KINDS = ("ingest", "monitor", "drift", "retrain")
LABELS_KIND = "labels"  # only for contracts with labels.arrive: delayed


def dag_kinds(contract: Contract) -> tuple[str, ...]:
    """The kinds of DAG the factories build for ``contract`` (``ct_<kind>_<contract>``)."""
    return (*DAG_KINDS, LABELS_KIND) if contract.labels_delayed else DAG_KINDS


class AirflowDriver:
    """Runs the contract's DAGs with ``dag.test()`` and records per-DAG and per-task wall time."""

    def __init__(self, paths: PlatformPaths, contract: Contract):
        from airflow.dag_processing.dagbag import DagBag

        self.paths, self.contract = paths, contract
        bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
        if bag.import_errors:
            raise RuntimeError(f"DAG import errors: {bag.import_errors}")
        name = contract.name
        self.dags = {kind: bag.get_dag(f"ct_{kind}_{name}") for kind in dag_kinds(contract)}
        self.timings: list[dict] = []

    def run(self, kind: str, conf: dict | None = None) -> str:
        started = time.perf_counter()
        run = self.dags[kind].test(run_conf=conf or {})
        elapsed = time.perf_counter() - started
        tasks = {ti.task_id: (ti.duration or 0.0) for ti in run.get_task_instances()}
        self.timings.append({"dag": kind, "seconds": elapsed, "state": str(run.state), "tasks": tasks})
        return str(run.state)

    def process_landing(self) -> None:
        for manifest in ready_manifests(self.paths.landing_for(self.contract.name)):
            batch_id = batch_id_of(manifest)
            self.run("ingest")
            ingested = _last_event(self.paths, self.contract.name, EventKind.BATCH_INGESTED, batch_id)
            if ingested is None:
                continue  # quarantined: ingest failed red, nothing to monitor
            self.run(
                "monitor",
                {
                    "batch_id": batch_id,
                    "data_rev": ingested["data_version"]["rev"],
                    "period_start": ingested["period_start"],
                },
            )
            self.start_retrain_on_signal()
        self.process_labels()

    def process_labels(self) -> None:
        """Run the labels DAG once per label file waiting in ``landing/<contract>/labels/``, each followed by
        the drift DAG and retrain when its labels confirmed drift."""
        if LABELS_KIND not in self.dags:
            return
        for _ in ready_manifests(self.paths.labels_landing(self.contract.name)):
            self.run(LABELS_KIND)  # the sensor takes the oldest ready manifest, as in a deployment
            self.start_retrain_on_signal()

    def start_retrain_on_signal(self) -> None:
        """Run the drift DAG if a confirmed signal awaits, then the retrain it would start through the asset."""
        signal = next_signal(self.paths.ledger, self.contract.name)
        if signal is None:
            return
        self.run("drift")
        if next_signal(self.paths.ledger, self.contract.name) is not None:
            raise RuntimeError(f"the drift DAG did not emit signal {signal['signal_id']}; see its task log")
        self.run("retrain", {"reason": signal["reason"], "signal": signal})


def _last_event(paths: PlatformPaths, contract: str, kind: str, batch_id: str) -> dict | None:
    matches = [e for e in read_events(paths.ledger, contract, [kind]) if e.get("batch_id") == batch_id]
    return matches[-1] if matches else None


def simulate(
    paths: PlatformPaths,
    contract: Contract,
    scenario: Scenario,
    *,
    engine: str = "airflow",
    max_batches: int | None = None,
    on_batch: Callable[[str], None] | None = None,
) -> list[dict]:
    """Replay ``scenario``; returns per-DAG timings (airflow engine) or per-batch timings (direct)."""
    if engine == "airflow":
        prepare_airflow(paths)
    init_platform(paths, [contract])
    source = load_source(contract)
    driver = AirflowDriver(paths, contract) if engine == "airflow" else None
    timings: list[dict] = []
    for count, batch in enumerate(plan_batches(scenario, contract, source)):
        if max_batches is not None and count >= max_batches:
            break
        land(batch, contract, paths.landing_for(contract.name))
        started = time.perf_counter()
        if driver is not None:
            driver.process_landing()
        else:
            from ml.simulation.replay import process_landing_direct

            process_landing_direct(paths, contract)
        timings.append({"batch_id": batch.batch_id, "kind": batch.kind, "seconds": time.perf_counter() - started})
        if on_batch:
            on_batch(f"{batch.batch_id} (labels)" if batch.kind == LABEL_FILE_KIND else batch.batch_id)
    return driver.timings if driver is not None else timings
