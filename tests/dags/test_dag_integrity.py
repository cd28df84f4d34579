"""One integrity test over every DAG: imports, shape, retries, and cheap side-effect-free parsing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ct.airflow_env import REPO_ROOT, airflow_environment
from ml.contract import find_contracts, load_contract
from ml.settings import PlatformPaths

DAGS_DIR = REPO_ROOT / "dags"
DAG_FILES = sorted(DAGS_DIR.glob("*.py"))
CONTRACTS = [load_contract(p) for p in find_contracts(REPO_ROOT / "include" / "contracts")]
HEAVY = ("torch", "pandas", "numpy", "mlflow", "evidently", "great_expectations", "dvc", "sklearn", "scipy")


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_four_dags_per_contract_and_a_labels_dag_where_labels_come_later(dagbag):
    expected = {f"ct_{kind}_{c.name}" for c in CONTRACTS for kind in ("ingest", "monitor", "drift", "retrain")}
    expected |= {f"ct_labels_{c.name}" for c in CONTRACTS if c.labels_delayed}
    assert any(c.labels_delayed for c in CONTRACTS) and not all(c.labels_delayed for c in CONTRACTS)
    assert expected == set(dagbag.dag_ids)


@pytest.mark.parametrize("contract", [c for c in CONTRACTS if c.labels_delayed], ids=lambda c: c.name)
def test_labels_dag_shape(dagbag, contract):

    labels = dagbag.get_dag(f"ct_labels_{contract.name}")
    assert [t.task_id for t in labels.topological_sort()] == [
        "wait_for_labels",
        "validate_labels",
        "join_labels",
        "evaluate_labels",
        "decide_drift",
    ]
    sensor = labels.get_task("wait_for_labels")
    assert type(sensor).__name__ == "LandingSensor"  # the ingest DAG's deferrable sensor, on the labels folder
    assert sensor.folder == str(PlatformPaths.from_env().labels_landing(contract.name))
    assert labels.get_task("join_labels").pool == "dvc_writes"
    assert [a.name for a in labels.get_task("join_labels").outlets] == [f"ct.{contract.name}.labelled_batch"]
    assert labels.max_active_runs == 1 and labels.doc_md


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.name)
def test_dag_shape(dagbag, contract):
    ingest = dagbag.get_dag(f"ct_ingest_{contract.name}")
    monitor = dagbag.get_dag(f"ct_monitor_{contract.name}")
    retrain = dagbag.get_dag(f"ct_retrain_{contract.name}")
    drift = dagbag.get_dag(f"ct_drift_{contract.name}")
    assert [t.task_id for t in monitor.topological_sort()] == ["score_and_report", "decide_drift"]
    assert [t.task_id for t in drift.tasks] == ["wait_for_drift"]
    assert type(drift.get_task("wait_for_drift")).__name__ == "DriftSensor"
    assert [t.task_id for t in ingest.topological_sort()] == ["wait_for_batch", "validate_batch", "commit_version"]
    assert {t.task_id for t in retrain.tasks} >= {
        "pin_training_window",
        "train_challenger",
        "evaluate_gate",
        "gate_passed",
        "promote_champion",
    }
    # promotion is the last step: nothing runs after the alias moves
    assert retrain.get_task("promote_champion").downstream_list == []
    assert retrain.get_task("train_challenger").pool == "gpu"
    assert retrain.get_task("train_challenger").queue == "gpu"
    assert ingest.get_task("commit_version").pool == "dvc_writes"
    # a retrain that fails for good must free its drift signal (tests/integration/test_retrain_failure.py)
    assert all(task.on_failure_callback for task in retrain.tasks)
    for dag in (ingest, monitor, drift, retrain):
        assert dag.max_active_runs == 1
        assert dag.doc_md, f"{dag.dag_id} has no doc_md"


def test_assets_chain_the_dags(dagbag):
    for contract in CONTRACTS:
        name = contract.name
        commit = dagbag.get_dag(f"ct_ingest_{name}").get_task("commit_version")
        emit = dagbag.get_dag(f"ct_drift_{name}").get_task("wait_for_drift")
        assert [a.name for a in commit.outlets] == [f"ct.{name}.validated_batch"]
        assert [a.name for a in emit.outlets] == [f"ct.{name}.drift_signal"]


def test_retries_set_except_where_a_retry_cannot_help(dagbag):
    no_retry = {"wait_for_batch", "validate_batch"}  # a bad batch stays bad; a sensor timeout is the alert
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            if task.task_id in no_retry:
                assert task.retries == 0
            else:
                assert task.retries >= 1, f"{dag.dag_id}.{task.task_id} has no retries"


_PARSE_PROBE = r"""
import json, sys, time
sys.path[:0] = {paths!r}
import airflow.sdk  # the framework's own import cost is not the DAG file's
before = set(sys.modules)
started = time.perf_counter()
import importlib.util
spec = importlib.util.spec_from_file_location("probe_dag", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = time.perf_counter() - started
new = sorted({{m.split(".")[0] for m in set(sys.modules) - before}})
print(json.dumps({{"seconds": elapsed, "new_modules": new}}))
"""


def parse_probe(dag_file: Path, scratch: Path) -> dict:
    """Parse one DAG file in a fresh interpreter: {seconds, new_modules}, and whether it created the home."""
    home = PlatformPaths(scratch / "untouched-home")
    env = airflow_environment(home, dict(os.environ))
    env["AIRFLOW_HOME"] = str(scratch / "airflow-home")  # Airflow writes its own config on import
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{scratch / 'airflow-home' / 'airflow.db'}"
    code = _PARSE_PROBE.format(paths=[str(REPO_ROOT), str(REPO_ROOT / "plugins")], path=str(dag_file))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    return {**probe, "home_created": Path(home.home).exists()}


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_parses_without_heavy_imports_or_side_effects(dag_file, tmp_path):
    """What makes parsing slow or unsafe, checked exactly: heavy libraries imported at parse time, or files written.
    How long parsing takes is a measurement, not a test (a loaded CI machine would make it flaky): see
    bench/dag_parse.py -> bench/results/dag_parse.md."""
    probe = parse_probe(dag_file, tmp_path)
    heavy = [m for m in probe["new_modules"] if m in HEAVY]
    assert heavy == [], f"{dag_file.name} imports {heavy} at parse time"
    assert not probe["home_created"], "parsing a DAG file must not create the platform home"
