"""The environment every Airflow process of the platform runs with, derived from ``CT_HOME``.

One function so that ``make demo``, ``ct simulate`` and the tests configure Airflow identically:
dags and plugins from this repository, a SQLite metadata DB under ``CT_HOME/airflow``, examples off,
DAGs unpaused at creation (asset events that reach a paused DAG are not replayed later: apache/airflow#49857),
telemetry off.

``distributed_environment`` is the same environment for the distributed setup (CeleryExecutor, Postgres
metadata DB, Redis broker): run ``python -m ct.airflow_env --distributed`` to print it as shell exports.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import socket
from collections.abc import Mapping
from pathlib import Path

from ml.settings import PlatformPaths

REPO_ROOT = Path(__file__).resolve().parents[1]

TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "SCARF_ANALYTICS": "false",
}
# What every platform process sets: telemetry off, and no MLflow "Downloading artifacts" progress bars (they
# interleave with the CLI's own lines and fill task logs with carriage returns).
LIBRARY_ENV = {**TELEMETRY_OFF, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def pools(env: Mapping[str, str] | None = None) -> dict[str, tuple[int, str]]:
    """The platform's Airflow pools as ``{name: (slots, description)}``; gpu slots from ``CT_GPU_SLOTS``."""
    # The train task takes a `gpu` slot whether or not it finds a GPU: with none, the one slot keeps CPU
    # trainings from running side by side on a small machine. Set CT_GPU_SLOTS to the GPU worker's GPU count.
    env = os.environ if env is None else env
    return {
        "dvc_writes": (1, "DVC writes are serialised: concurrent DVC commands fight over a lock"),
        "gpu": (int(env.get("CT_GPU_SLOTS", "1")), "slots = GPUs on the GPU worker (CT_GPU_SLOTS)"),
    }


POOLS = pools()

# The distributed setup's services, overridable by environment (see distributed_settings).
# SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; the lock carries psycopg2, so name the driver.
DEFAULT_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/airflow"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"


def airflow_environment(paths: PlatformPaths, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    airflow_home = paths.airflow_home
    python_path = [str(REPO_ROOT), str(REPO_ROOT / "plugins")]
    if env.get("PYTHONPATH"):
        python_path.append(env["PYTHONPATH"])
    env.update(LIBRARY_ENV)
    env.update(
        {
            "CT_HOME": str(paths.home),
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
            "AIRFLOW__CORE__UNIT_TEST_MODE": env.get("AIRFLOW__CORE__UNIT_TEST_MODE", "False"),
            "PYTHONPATH": os.pathsep.join(python_path),
        }
    )
    return env


def apply_airflow_environment(paths: PlatformPaths) -> None:
    """Set the environment in this process; must run before anything imports airflow."""
    os.environ.update(airflow_environment(paths))


def worker_hostname() -> str:
    """Airflow's ``hostname_callable`` in the distributed setup: ``CT_WORKER_HOSTNAME``, else the FQDN.

    Airflow records this name on every task instance it runs. Several workers on one machine (the CPU and the
    GPU worker of a single-host install, or the tests) set their own, so the metadata DB says which one ran a task.
    """
    return os.environ.get("CT_WORKER_HOSTNAME") or socket.getfqdn()


def distributed_settings(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The Airflow settings that make the platform distributed: CeleryExecutor, Postgres, Redis.

    Read from ``env`` (default: this process's environment): ``CT_DATABASE_URL`` (metadata DB, a SQLAlchemy URL),
    ``CT_CELERY_BROKER_URL``, ``CT_CELERY_RESULT_BACKEND`` (default: ``db+`` the metadata DB) and
    ``CT_CELERY_KEY_PREFIX`` (prefixes every broker key, so that several installs can share one Redis).
    """
    env = os.environ if env is None else env
    database_url = env.get("CT_DATABASE_URL") or DEFAULT_DATABASE_URL
    settings = {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
        "AIRFLOW__CELERY__BROKER_URL": env.get("CT_CELERY_BROKER_URL") or DEFAULT_BROKER_URL,
        "AIRFLOW__CELERY__RESULT_BACKEND": env.get("CT_CELERY_RESULT_BACKEND") or f"db+{database_url}",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "ct.airflow_env.worker_hostname",
    }
    if env.get("CT_CELERY_KEY_PREFIX"):
        settings["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX"] = env["CT_CELERY_KEY_PREFIX"]
    return settings


def distributed_environment(paths: PlatformPaths, base: dict[str, str] | None = None) -> dict[str, str]:
    """``airflow_environment`` with ``distributed_settings`` on top (files still under ``CT_HOME``)."""
    env = airflow_environment(paths, base)
    env.update(distributed_settings(env))
    return env


def _exports(env: Mapping[str, str]) -> str:
    keys = sorted(k for k in env if k.startswith(("AIRFLOW", "CT_", "PYTHONPATH", "MLFLOW")) or k in LIBRARY_ENV)
    return "\n".join(f"export {key}={shlex.quote(env[key])}" for key in keys)


def main(argv: list[str] | None = None) -> int:
    """Print the platform's Airflow environment as shell exports: ``eval "$(python -m ct.airflow_env ...)"``."""
    parser = argparse.ArgumentParser(prog="python -m ct.airflow_env", description=main.__doc__)
    parser.add_argument("--distributed", action="store_true", help="CeleryExecutor on Postgres and Redis")
    parser.add_argument("--api-port", type=int, default=8080, help="the api-server's port (127.0.0.1)")
    args = parser.parse_args(argv)
    paths = PlatformPaths.from_env()
    env = distributed_environment(paths) if args.distributed else airflow_environment(paths)
    base_url = f"http://127.0.0.1:{args.api_port}"
    env.update(
        {
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(args.api_port),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
        }
    )
    # Every component must verify the others' tokens: one secret for all processes started from this shell.
    env.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(32))
    print(_exports(env))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
