"""Starting and stopping the local servers as ONE process group, on ports that are free.

Airflow's components (scheduler, dag-processor, api-server, triggerer) and the MLflow tracking server are
started as separate processes that all join the group of the first one, so one ``killpg`` stops every
process the demo started, children included (killing only a parent can orphan Airflow's children).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ct.airflow_env import airflow_environment, pools
from ml.settings import PlatformPaths


class PortError(RuntimeError):
    """A requested port is taken, or no free port could be found."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def choose_port(name: str, requested: int | None, env_var: str, default: int, taken: set[int]) -> tuple[int, str]:
    """A port for ``name``: an explicit request must be free (else a clear error); a default may move."""
    explicit = requested if requested is not None else (int(os.environ[env_var]) if os.environ.get(env_var) else None)
    if explicit is not None:
        if explicit in taken or not port_is_free(explicit):
            raise PortError(
                f"{name} port {explicit} is already in use. Stop what uses it or choose another "
                f"with {env_var}=<port> (or the --{name.lower()}-port option)."
            )
        return explicit, ""
    for candidate in [default, *range(default + 1, default + 200)]:
        if candidate not in taken and port_is_free(candidate):
            note = "" if candidate == default else f"{name} default port {default} is in use; using {candidate}"
            return candidate, note
    raise PortError(f"no free port for {name} near {default}; set {env_var}")


@dataclass
class Ports:
    airflow: int
    mlflow: int
    worker_logs: int
    trigger_logs: int
    notes: list[str] = field(default_factory=list)

    @classmethod
    def choose(cls, airflow: int | None, mlflow: int | None) -> Ports:
        taken: set[int] = set()
        notes = []
        chosen = {}
        for key, name, requested, env_var, default in (
            ("airflow", "Airflow", airflow, "CT_AIRFLOW_PORT", 8080),
            ("mlflow", "MLflow", mlflow, "CT_MLFLOW_PORT", 5000),
            ("worker_logs", "Worker-log", None, "CT_WORKER_LOG_PORT", 8793),
            ("trigger_logs", "Trigger-log", None, "CT_TRIGGER_LOG_PORT", 8794),
        ):
            port, note = choose_port(name, requested, env_var, default, taken)
            taken.add(port)
            chosen[key] = port
            if note:
                notes.append(note)
        return cls(**chosen, notes=notes)


def demo_password(paths: PlatformPaths) -> str:
    """The UI password for user ``admin``: generated once per CT_HOME and kept in Airflow's password file."""
    password_file = paths.airflow_home / "simple_auth_manager_passwords.json.generated"
    if password_file.exists():
        return json.loads(password_file.read_text())["admin"]
    password = secrets.token_urlsafe(9)
    password_file.parent.mkdir(parents=True, exist_ok=True)
    password_file.write_text(json.dumps({"admin": password}))
    return password


def _jwt_secret(paths: PlatformPaths) -> str:
    """One secret for every component: tokens the scheduler issues must verify in the api-server."""
    secret_file = paths.airflow_home / "jwt_secret"
    if not secret_file.exists():
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        secret_file.write_text(secrets.token_urlsafe(32))
    return secret_file.read_text().strip()


def server_environment(
    paths: PlatformPaths, ports: Ports, contracts: str | None, base: dict[str, str] | None = None
) -> dict[str, str]:
    env = airflow_environment(paths, base)
    base_url = f"http://127.0.0.1:{ports.airflow}"
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "6",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(
                paths.airflow_home / "simple_auth_manager_passwords.json.generated"
            ),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(ports.airflow),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": _jwt_secret(paths),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports.worker_logs),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports.trigger_logs),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{ports.mlflow}",
        }
    )
    if contracts:
        env["CT_CONTRACTS"] = contracts
    return env


class ProcessGroup:
    """Processes started into one process group; ``stop()`` ends the whole group."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.pgid: int | None = None
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        # The first process leads a new group in our session (setpgid cannot cross sessions); the rest join it.
        kwargs = {"process_group": 0 if self.pgid is None else self.pgid}
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs
        )
        if self.pgid is None:
            self.pgid = process.pid
        self.processes[name] = process
        return process

    def dead(self) -> list[str]:
        return [name for name, process in self.processes.items() if process.poll() is not None]

    def stop(self, grace: float = 15.0) -> None:
        if self.pgid is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if all(p.poll() is not None for p in self.processes.values()) and not _group_alive(self.pgid):
                    return
                time.sleep(0.2)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def start_servers(group: ProcessGroup, ports: Ports, env: dict[str, str], paths: PlatformPaths) -> None:
    """Start MLflow and Airflow's four components into ``group`` (the caller stops it, even on failure)."""
    bin_dir = Path(sys.executable).parent
    group.start(
        "mlflow",
        [
            str(bin_dir / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{paths.mlflow_db}",
            "--default-artifact-root",
            paths.mlflow_artifacts.as_uri(),
            "--host",
            "127.0.0.1",
            "--port",
            str(ports.mlflow),
            "--workers",
            "1",
        ],
        env,
    )
    for component in ("scheduler", "dag-processor", "triggerer", "api-server"):
        group.start(component, [str(bin_dir / "airflow"), component], env)


def prepare_metadata_db(env: dict[str, str], log_dir: Path) -> None:
    """Migrate the metadata DB that ``env`` names (any backend) and create the platform's pools from ``env``."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    log_dir.mkdir(parents=True, exist_ok=True)
    pool_file = log_dir / "pools.json"
    pool_file.write_text(
        json.dumps(
            {
                name: {"slots": slots, "description": why, "include_deferred": False}
                for name, (slots, why) in pools(env).items()
            }
        )
    )
    for step in (["db", "migrate"], ["pools", "import", str(pool_file)]):
        result = subprocess.run([airflow, *step], env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(step)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def start_celery_worker(
    group: ProcessGroup, env: dict[str, str], name: str, *, queues: str, concurrency: int, log_port: int
) -> subprocess.Popen:
    """A Celery worker on ``queues`` into ``group``; the tasks it runs record ``name`` as their hostname.

    Each worker serves its task logs on its own port, so several can share one machine.
    """
    worker_env = dict(env, CT_WORKER_HOSTNAME=name, AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(log_port))
    airflow = str(Path(sys.executable).with_name("airflow"))
    return group.start(
        f"worker-{name}",
        [
            airflow,
            "celery",
            "worker",
            "--queues",
            queues,
            "--concurrency",
            str(concurrency),
            "--celery-hostname",
            f"{name}@%h",
        ],
        worker_env,
    )


class AirflowApi:
    """A few calls to Airflow's REST API v2 (stdlib only)."""

    def __init__(self, base_url: str, username: str, password: str):
        self.base_url, self.username, self.password = base_url, username, password
        self._token: str | None = None

    def _request(self, method: str, path: str, body: dict | None = None, auth: bool = True) -> dict:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")

    def token(self) -> str:
        if self._token is None:
            reply = self._request(
                "POST", "/auth/token", {"username": self.username, "password": self.password}, auth=False
            )
            self._token = reply["access_token"]
        return self._token

    def healthy(self) -> bool:
        try:
            health = self._request("GET", "/api/v2/monitor/health", auth=False)
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return health.get("scheduler", {}).get("status") == "healthy"

    def dag_ids(self, prefix: str = "ct_") -> list[str]:
        reply = self._request("GET", f"/api/v2/dags?dag_id_pattern={prefix}&limit=100")
        return [dag["dag_id"] for dag in reply.get("dags", [])]

    def active_runs(self, dag_id: str) -> int:
        reply = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns?state=queued&state=running&limit=1")
        return int(reply.get("total_entries", 0))

    def unpause(self, dag_id: str) -> None:
        self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def get(self, path: str) -> dict:
        return self._request("GET", path)

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        """Start a manual run now; returns its run id."""
        reply = self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return reply["dag_run_id"]
