"""The environment every Airflow process of the platform runs with, derived from ``CT_HOME``.

One function so that ``make demo``, ``ct simulate`` and the tests configure Airflow identically:
dags and plugins from this repository, a SQLite metadata DB under ``CT_HOME/airflow``, examples off,
DAGs unpaused at creation (asset events that reach a paused DAG are not replayed later: apache/airflow#49857),
telemetry off.
"""

from __future__ import annotations

import os
from pathlib import Path

from ml.settings import PlatformPaths

REPO_ROOT = Path(__file__).resolve().parents[1]

TELEMETRY_OFF = {"DO_NOT_TRACK": "1", "GX_ANALYTICS_ENABLED": "false", "MLFLOW_DISABLE_TELEMETRY": "true",
                 "DVC_NO_ANALYTICS": "1", "SCARF_ANALYTICS": "false"}

# The train task takes a `gpu` slot whether or not it finds a GPU: with none, the one slot keeps CPU
# trainings from running side by side on a small machine. Set CT_GPU_SLOTS to the GPU worker's GPU count.
POOLS = {"dvc_writes": (1, "DVC writes are serialised: concurrent DVC commands fight over a lock"),
         "gpu": (int(os.environ.get("CT_GPU_SLOTS", "1")), "slots = GPUs on the GPU worker (CT_GPU_SLOTS)")}


def airflow_environment(paths: PlatformPaths, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    airflow_home = paths.airflow_home
    python_path = [str(REPO_ROOT), str(REPO_ROOT / "plugins")]
    if env.get("PYTHONPATH"):
        python_path.append(env["PYTHONPATH"])
    env.update(TELEMETRY_OFF)
    env.update({
        "CT_HOME": str(paths.home),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": env.get("AIRFLOW__CORE__UNIT_TEST_MODE", "False"),
        "PYTHONPATH": os.pathsep.join(python_path),
    })
    return env


def apply_airflow_environment(paths: PlatformPaths) -> None:
    """Set the environment in this process; must run before anything imports airflow."""
    os.environ.update(airflow_environment(paths))
