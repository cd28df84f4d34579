"""The distributed setup for real: CeleryExecutor on PostgreSQL and Redis, a CPU worker and a GPU worker.

Issue 6, point 1: the train task runs on the Celery queue `gpu` and takes a slot of the Airflow pool `gpu`
(slots = CT_GPU_SLOTS), while every other task runs on the default queue; the DAG is the one LocalExecutor
runs (``test_real_scheduler.py``), unchanged. One module-scoped run: a fresh Postgres database and a Redis key
prefix of its own, one committed data version (the weather bootstrap, 1961-1966, put in place without Airflow),
then scheduler, dag-processor and api-server plus two Celery workers on one machine, the second with
``--queues gpu --concurrency 1``. A manual run of ``ct_retrain_weather`` goes through the REST API; the
assertions read the REST API and the metadata DB. Skipped, with the reason, when Postgres or Redis cannot be
reached (``CT_TEST_POSTGRES_URL``, ``CT_TEST_REDIS_URL``).
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from ct.airflow_env import REPO_ROOT, distributed_settings
from ct.services import (
    AirflowApi,
    Ports,
    ProcessGroup,
    demo_password,
    prepare_metadata_db,
    server_environment,
    start_celery_worker,
)
from ml.contract import load_contract
from ml.settings import PlatformPaths

pytestmark = [pytest.mark.slow, pytest.mark.services]

POSTGRES_URL = os.environ.get("CT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DAG_ID = "ct_retrain_weather"
GPU_SLOTS = 2  # not the default 1, so the pool's size visibly comes from CT_GPU_SLOTS
CPU_WORKER, GPU_WORKER = "ct-cpu-worker", "ct-gpu-worker"
RUN_TIMEOUT_S = 240


def _reachable(url: str) -> str | None:
    """None when something accepts connections at the URL's host and port, else why not."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return None
    except OSError as error:
        return f"{parts.scheme} at {parts.hostname}:{parts.port} is unreachable ({error})"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _with_database(url: str, name: str) -> str:
    """The libpq URL of database ``name`` on the server of ``url``."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _sqlalchemy_url(libpq_url: str) -> str:
    return libpq_url.replace("postgresql://", "postgresql+psycopg2://", 1)


def _admin(sql: str) -> None:
    import psycopg2

    connection = psycopg2.connect(POSTGRES_URL)
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


def _seed_data_version(paths: PlatformPaths) -> None:
    """One committed data version to train on; ingest and monitor are proven elsewhere."""
    from ml.bootstrap import init_platform
    from ml.data.versioning import commit_batch
    from ml.simulation.scenario import Scenario, plan_batches
    from ml.simulation.sources import load_source

    contract = load_contract(REPO_ROOT / "include" / "contracts" / "weather.yaml")
    init_platform(paths, [contract], with_gx=False)
    scenario = Scenario.model_validate(
        {
            "contract": "weather",
            "bootstrap": {"start": "1961-01-01", "end": "1967-01-01"},
            "replay": {"start": "1967-01-01", "end": "1967-01-02"},
        }
    )
    batch = next(plan_batches(scenario, contract, load_source(contract)))
    commit_batch(paths.data_repo, contract.name, batch.batch_id, batch.frame)


def _environment(paths: PlatformPaths, database_url: str, key_prefix: str) -> dict[str, str]:
    ports = Ports(airflow=_free_port(), mlflow=_free_port(), worker_logs=_free_port(), trigger_logs=_free_port())
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CT_", "MLFLOW"))}
    base.update(
        CT_GPU_SLOTS=str(GPU_SLOTS),
        CT_DATABASE_URL=database_url,
        CT_CELERY_BROKER_URL=REDIS_URL,
        CT_CELERY_KEY_PREFIX=key_prefix,
    )
    env = server_environment(paths, ports, contracts="weather", base=base)
    env.update(distributed_settings(env))
    env.update(
        {
            # Only the retrain DAG is unpaused: the continuous ingest DAG would otherwise hold a worker slot.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # Tasks run one after another here, so they may share the embedded SQLite tracking store.
            "MLFLOW_TRACKING_URI": f"sqlite:///{paths.mlflow_db}",
        }
    )
    return env


def _wait_for_run(api: AirflowApi, run_id: str, group: ProcessGroup) -> str:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        if group.dead():
            pytest.fail(f"{group.dead()} exited early; logs in {group.log_dir}")
        try:
            state = api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
        except OSError:  # a busy api-server (2 shared cores) may miss the client's 10 s timeout: ask again
            state = None
        if state in ("success", "failed"):
            return state
        time.sleep(2)
    return "timed out"


def _wait_ready(api: AirflowApi, group: ProcessGroup, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if group.dead():
            pytest.fail(f"{group.dead()} exited early; logs in {group.log_dir}")
        try:
            if api.healthy() and DAG_ID in api.dag_ids():
                return
        except OSError:
            pass
        time.sleep(2)
    pytest.fail(f"Airflow did not list {DAG_ID} within {timeout:.0f} s; logs in {group.log_dir}")


@pytest.fixture(scope="module")
def distributed_run(tmp_path_factory):
    pytest.importorskip("psycopg2", reason="psycopg2 is missing: run `make install`")
    redis = pytest.importorskip("redis", reason="the redis client is missing: run `make install`")
    for url in (POSTGRES_URL, REDIS_URL):
        if why := _reachable(url):
            pytest.skip(f"the distributed test needs PostgreSQL and Redis on loopback: {why}")
    token = secrets.token_hex(4)
    database = f"ct_distributed_{token}"
    key_prefix = f"ct-test-{token}:"
    paths = PlatformPaths(tmp_path_factory.mktemp("distributed") / "home")
    _admin(f'CREATE DATABASE "{database}"')
    group = ProcessGroup(paths.home / "logs")
    try:
        database_url = _with_database(POSTGRES_URL, database)
        env = _environment(paths, _sqlalchemy_url(database_url), key_prefix)
        prepare_metadata_db(env, group.log_dir)
        _seed_data_version(paths)
        password = demo_password(paths)  # before the api-server starts, or it generates its own
        airflow = str(Path(sys.executable).with_name("airflow"))
        for component in ("scheduler", "dag-processor", "api-server"):
            group.start(component, [airflow, component], env)
        start_celery_worker(group, env, CPU_WORKER, queues="default", concurrency=2, log_port=_free_port())
        start_celery_worker(group, env, GPU_WORKER, queues="gpu", concurrency=1, log_port=_free_port())
        api = AirflowApi(env["AIRFLOW__API__BASE_URL"], "admin", password)
        _wait_ready(api, group)
        api.unpause(DAG_ID)
        run_id = api.trigger(DAG_ID, {"reason": "manual"})
        state = _wait_for_run(api, run_id, group)
        yield {"api": api, "run_id": run_id, "state": state, "database_url": database_url, "logs": group.log_dir}
    finally:
        group.stop()
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{key_prefix}*"))
        if keys:
            client.delete(*keys)


def _task_instances(run: dict) -> dict[str, dict]:
    reply = run["api"].get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run['run_id']}/taskInstances")
    return {ti["task_id"]: ti for ti in reply["task_instances"]}


def test_the_retrain_run_succeeds_on_celery(distributed_run):
    tis = _task_instances(distributed_run)
    states = {task: ti["state"] for task, ti in tis.items()}
    assert distributed_run["state"] == "success", (
        f"run {distributed_run['state']}: {states}; logs in {distributed_run['logs']}"
    )
    assert states["train_challenger"] == "success"


def test_train_runs_on_the_gpu_queue_pool_and_worker(distributed_run):
    train = _task_instances(distributed_run)["train_challenger"]
    assert (train["queue"], train["pool"], train["hostname"]) == ("gpu", "gpu", GPU_WORKER)


def test_every_other_task_runs_on_the_default_worker(distributed_run):
    ran = {
        task: ti
        for task, ti in _task_instances(distributed_run).items()
        if task != "train_challenger" and ti["hostname"]
    }
    assert {"pin_training_window", "evaluate_gate"} <= set(ran)
    where = {task: (ti["queue"], ti["pool"], ti["hostname"]) for task, ti in ran.items()}
    assert set(where.values()) == {("default", "default_pool", CPU_WORKER)}, where


def test_gpu_pool_has_ct_gpu_slots(distributed_run):
    assert distributed_run["api"].get("/api/v2/pools/gpu")["slots"] == GPU_SLOTS


def test_tasks_went_through_celery_and_postgres(distributed_run):
    """Each task instance carries its Celery task id, and the Celery result backend (Postgres) holds it."""
    import psycopg2

    connection = psycopg2.connect(distributed_run["database_url"])
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "select task_id, external_executor_id from task_instance where dag_id = %s "
                "and run_id = %s and hostname is not null and hostname != ''",
                (DAG_ID, distributed_run["run_id"]),
            )
            celery_ids = dict(cursor.fetchall())
            cursor.execute("select task_id from celery_taskmeta")
            results = {row[0] for row in cursor.fetchall()}
    finally:
        connection.close()
    assert "train_challenger" in celery_ids
    assert all(celery_ids.values()), celery_ids
    assert set(celery_ids.values()) <= results
