"""Static checks of the distributed setup: docker-compose.yaml, docker/Dockerfile and their helpers.

No Docker engine is needed. The file is parsed with pyyaml (merge keys resolved) and compose's variable
interpolation is applied with every variable unset, i.e. with the defaults a fresh checkout gets.
Where the `docker compose` v2 plugin exists, it validates the file as well.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
ENV_EXAMPLE = ROOT / "docker" / ".env.example"
PG_INIT = ROOT / "docker" / "postgres" / "10-create-mlflow-db.sh"

REQUIRED_SERVICES = {
    "postgres",
    "redis",
    "mlflow",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-worker-gpu",
    "airflow-init",
}
# One-shot or on-demand services: no healthcheck, nothing waits for them to be healthy.
ONE_SHOT = {"airflow-init", "airflow-cli"}
POOLS = {"dvc_writes": 1, "gpu": 1}
TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
}

# Compose interpolation: $$ (a literal dollar), ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err},
# ${VAR?err}, ${VAR:+alt}, ${VAR+alt}, $VAR.
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Apply compose's variable substitution to one string, as `docker compose config` would."""
    env = env or {}

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["named"]
        value, op, arg = env.get(name), match["op"], match["arg"]
        if op in (":-", "-"):
            return arg if value is None or (op == ":-" and value == "") else value
        if op in (":+", "+"):
            return "" if value is None or (op == ":+" and value == "") else arg
        if op in (":?", "?") and (value is None or (op == ":?" and value == "")):
            raise ValueError(f"required variable {name} is unset: {arg}")
        return value or ""

    return _INTERPOLATION.sub(substitute, text)


def interpolate_tree(node, env: dict[str, str] | None = None):
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    return node


def as_text(command) -> str:
    """A compose command/entrypoint (string or list) as one string."""
    if command is None:
        return ""
    return command if isinstance(command, str) else " ".join(str(part) for part in command)


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the KEY=VALUE list form
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


@pytest.fixture(scope="module")
def raw() -> dict:
    """The file as written: merge keys resolved, ${...} expressions untouched."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def config(raw) -> dict:
    """The file as compose runs it with nothing set in the environment or .env."""
    return interpolate_tree(raw)


@pytest.fixture(scope="module")
def services(config) -> dict[str, dict]:
    return config["services"]


@pytest.fixture(scope="module")
def airflow_services(services) -> dict[str, dict]:
    return {name: svc for name, svc in services.items() if name.startswith("airflow-")}


def test_required_services_exist(services):
    missing = REQUIRED_SERVICES - services.keys()
    assert not missing, f"docker-compose.yaml lacks services {sorted(missing)}"


def test_airflow_common_anchor_is_merged(raw, airflow_services):
    assert "x-airflow-common" in raw, "the shared settings belong in an x-airflow-common anchor"
    common_image = raw["x-airflow-common"]["image"]
    for name, svc in airflow_services.items():
        if name != "airflow-worker-gpu":  # the CUDA image, by design
            assert svc["image"] == interpolate(common_image), name
        assert svc["user"] == "50000:0" or name == "airflow-init", name


def test_every_airflow_service_runs_celery_executor(airflow_services):
    for name, svc in airflow_services.items():
        assert environment(svc).get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor", name


@pytest.mark.parametrize("key", ["AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY"])
def test_airflow_services_share_secrets(raw, key):
    # Compared before interpolation: the same expression gives the same value in every container.
    airflow = {name: svc for name, svc in raw["services"].items() if name.startswith("airflow-")}
    expressions = {name: environment(svc).get(key) for name, svc in airflow.items()}
    missing = [name for name, expression in expressions.items() if expression is None]
    assert not missing, f"{key} missing in {missing}"
    assert len(set(expressions.values())) == 1, f"{key} differs between services: {expressions}"
    assert "${" in next(iter(expressions.values())), f"{key} must come from the environment with a default"


def test_secrets_have_defaults_and_jwt_secret_is_not_empty(airflow_services):
    env = environment(airflow_services["airflow-apiserver"])
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"], "an empty JWT secret makes every component token invalid"
    assert "AIRFLOW__CORE__FERNET_KEY" in env


def test_platform_environment(airflow_services):
    expected = {
        "CT_HOME": "/opt/ct",
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "false",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://airflow-apiserver:8080/execution/",
        **TELEMETRY_OFF,
    }
    for name, svc in airflow_services.items():
        env = environment(svc)
        wrong = {key: env.get(key) for key, value in expected.items() if env.get(key) != value}
        assert not wrong, f"{name}: {wrong}"
        paths = env["PYTHONPATH"].split(":")
        assert {"/opt/airflow/project", "/opt/airflow/project/plugins"} <= set(paths), name


def test_mlflow_has_telemetry_off(services):
    env = environment(services["mlflow"])
    assert {key: env.get(key) for key in TELEMETRY_OFF} == TELEMETRY_OFF


def test_project_folders_and_ct_home_are_mounted(config, airflow_services):
    for name, svc in airflow_services.items():
        targets = {volume.split(":")[1]: volume.split(":")[0] for volume in svc["volumes"]}
        for folder in ("dags", "plugins", "include", "ml"):
            assert targets.get(f"/opt/airflow/project/{folder}") == f"./{folder}", f"{name}: {folder}"
        assert targets.get("/opt/ct") == "ct-home", name
        env = environment(svc)
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/airflow/project/dags", name
        assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == "/opt/airflow/project/plugins", name
    assert "ct-home" in config["volumes"]
    assert "ct-home:/opt/ct" in config["services"]["mlflow"]["volumes"]


def test_service_commands_match_the_official_file(services):
    expected = {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
    }
    for name, command in expected.items():
        assert as_text(services[name]["command"]) == command, name
    worker = shlex.split(as_text(services["airflow-worker"]["command"]))
    assert worker[:2] == ["celery", "worker"]
    assert "gpu" not in worker, "the CPU worker must not take GPU tasks"


def _option(argv: list[str], *names: str) -> str | None:
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def test_gpu_worker_listens_on_gpu_queue_with_concurrency_one(services):
    argv = shlex.split(as_text(services["airflow-worker-gpu"]["command"]))
    assert argv[:2] == ["celery", "worker"], argv
    assert _option(argv, "-q", "--queues") == "gpu", argv
    assert _option(argv, "-c", "--concurrency") == "1", argv


def test_gpu_worker_reserves_an_nvidia_device(services):
    devices = services["airflow-worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    nvidia = [d for d in devices if d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", [])]
    assert nvidia, devices


def test_gpu_worker_builds_the_cuda_torch_variant(services):
    build = services["airflow-worker-gpu"]["build"]
    assert build["dockerfile"] == "docker/Dockerfile"
    assert "TORCH_INDEX_URL" in build["args"]
    assert "ARG TORCH_INDEX_URL" in DOCKERFILE.read_text()
    assert services["airflow-worker-gpu"]["image"] != services["airflow-worker"]["image"]


def _init_script(services) -> str:
    init = services["airflow-init"]
    assert as_text(init.get("entrypoint")) == "/bin/bash"
    command = init["command"]
    assert command[0] == "-c", command
    return command[1]


def test_airflow_init_migrates_and_creates_pools(services):
    script = _init_script(services)
    assert re.search(r"\bairflow db migrate\b", script), "airflow-init must migrate the metadata DB"
    created = {
        name: int(slots)
        for name, slots in re.findall(r"^\s*(?:/entrypoint )?airflow pools set (\S+) (\d+)", script, re.M)
    }
    assert created == POOLS


def test_airflow_init_script_is_valid_bash(services):
    result = subprocess.run(["bash", "-n"], input=_init_script(services), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_mlflow_server_uses_postgres_and_allowed_hosts(services):
    command = services["mlflow"]["command"]
    # `bash -c "exec mlflow server ..."` through the image's entrypoint: parse the inner command line.
    assert command[:2] == ["bash", "-c"], command
    inner = command[2]
    assert subprocess.run(["bash", "-n", "-c", inner], capture_output=True).returncode == 0, inner
    argv = shlex.split(inner)
    assert argv[argv.index("mlflow") + 1] == "server", argv
    backend = _option(argv, "--backend-store-uri")
    assert backend and backend.startswith("postgresql") and backend.endswith("@postgres:5432/mlflow"), backend
    allowed = (_option(argv, "--allowed-hosts") or "").split(",")
    # MLflow replaces its defaults with this list: it must accept what the Airflow containers send.
    assert "mlflow:*" in allowed or "mlflow:5000" in allowed or "*" in allowed, allowed
    assert _option(argv, "--port") == "5000", "MLFLOW_TRACKING_URI points at port 5000"
    artifacts = _option(argv, "--artifacts-destination", "--default-artifact-root") or ""
    assert artifacts.startswith("/opt/ct/"), "MLflow artifacts belong on the shared CT_HOME volume"


def test_postgres_creates_the_mlflow_database(services):
    postgres = services["postgres"]
    mounts = [volume.split(":") for volume in postgres["volumes"]]
    init_scripts = [src for src, dst, *_ in mounts if dst.startswith("/docker-entrypoint-initdb.d/")]
    assert init_scripts == ["./docker/postgres/10-create-mlflow-db.sh"]
    assert (ROOT / init_scripts[0]).is_file()
    assert "CREATE DATABASE mlflow" in PG_INIT.read_text()
    assert environment(postgres)["MLFLOW_DB_PASSWORD"] == "mlflow"
    assert subprocess.run(["bash", "-n", str(PG_INIT)], capture_output=True).returncode == 0


def test_published_ports_bind_loopback_only(raw, services):
    published = {name: svc.get("ports", []) for name, svc in services.items() if svc.get("ports")}
    assert {"airflow-apiserver", "mlflow"} <= published.keys()
    for name, ports in published.items():
        for port in ports:
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name} publishes {port!r}"
    raw_ports = {name: raw["services"][name]["ports"][0] for name in ("airflow-apiserver", "mlflow")}
    assert "${AIRFLOW_PORT:-8080}" in raw_ports["airflow-apiserver"]
    assert "${MLFLOW_PORT:-5000}" in raw_ports["mlflow"]


def test_ports_follow_the_environment(raw):
    moved = interpolate_tree(raw, {"AIRFLOW_PORT": "18080", "MLFLOW_PORT": "15000"})["services"]
    assert moved["airflow-apiserver"]["ports"] == ["127.0.0.1:18080:8080"]
    assert moved["mlflow"]["ports"] == ["127.0.0.1:15000:5000"]


def test_depends_on_names_existing_services(services):
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        unknown = set(deps) - services.keys()
        assert not unknown, f"{name} depends on unknown services {sorted(unknown)}"


def test_default_services_do_not_depend_on_profiled_ones(services):
    # Compose refuses to start a service whose dependency sits in an inactive profile.
    profiled = {name for name, svc in services.items() if svc.get("profiles")}
    for name, svc in services.items():
        if not svc.get("profiles"):
            assert not set(svc.get("depends_on") or {}) & profiled, name


def test_waits_are_satisfiable(services):
    # `service_healthy` needs a healthcheck; `service_completed_successfully` needs a one-shot service.
    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            condition = spec.get("condition", "service_started")
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy"
            if condition == "service_completed_successfully":
                assert dep in ONE_SHOT, f"{name} waits for {dep} to exit"


def test_long_running_services_have_healthchecks(services):
    for name, svc in services.items():
        if name not in ONE_SHOT:
            test = svc.get("healthcheck", {}).get("test")
            assert test, f"{name} has no healthcheck"
    assert "api/v2/monitor/health" in as_text(services["airflow-apiserver"]["healthcheck"]["test"])
    assert "8974/health" in as_text(services["airflow-scheduler"]["healthcheck"]["test"])
    for worker in ("airflow-worker", "airflow-worker-gpu"):
        assert "inspect ping" in as_text(services[worker]["healthcheck"]["test"]), worker


def test_dollar_signs_are_escaped(raw):
    # A lone `$name` in a shell command would be swallowed by compose's interpolation.
    text = COMPOSE_FILE.read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    stray = re.findall(r"\$(?!\{)\S*", body.replace("$$", ""))
    assert not stray, stray


def test_interpolated_variables_are_documented():
    text = COMPOSE_FILE.read_text().replace("$$", "")
    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    example = ENV_EXAMPLE.read_text()
    undocumented = {name for name in used if not re.search(rf"^#?\s*{name}=", example, re.M)}
    assert not undocumented, f"add {sorted(undocumented)} to docker/.env.example"


def test_dockerfile_installs_the_lock_and_the_project():
    text = DOCKERFILE.read_text()
    instructions = re.sub(r"\\\n", " ", text)
    assert re.search(r"^FROM apache/airflow:3\.3\.2-python3\.11\b", text, re.M)
    assert re.search(r"^COPY .*requirements\.lock", text, re.M)
    assert re.search(r"pip install[^\n]*-r [^\n]*requirements\.lock", instructions), "lock not installed"
    assert re.search(r"pip install[^\n]*--no-deps[^\n]*-e /opt/airflow/project", instructions)
    for folder in ("ml", "ct", "dags", "plugins", "include"):
        assert re.search(rf"^COPY .*\b{folder} /opt/airflow/project/{folder}$", text, re.M), folder


def test_dockerignore_keeps_local_state_out():
    lines = (ROOT / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*", "the ignore file is an allow-list: .venv, .ct and .git stay out"
    assert "!requirements.lock" in patterns


def _docker_compose_available() -> bool:
    if not shutil.which("docker"):
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _docker_compose_available(), reason="the docker compose v2 plugin is not installed")
def test_docker_compose_config_accepts_the_file():
    profiles = ["--profile", "gpu", "--profile", "debug"]
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), *profiles, "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COMPOSE_PROJECT_NAME": "ct-platform-check"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def _postgres_runner() -> list[str] | None:
    """How to run initdb here: as is, or as `nobody` when root (initdb refuses root)."""
    if not all(shutil.which(tool) for tool in ("initdb", "pg_ctl", "psql")):
        return None
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    return None


@pytest.mark.services
@pytest.mark.skipif(_postgres_runner() is None, reason="needs initdb/pg_ctl/psql (and runuser as root)")
def test_postgres_init_script_is_idempotent():
    """Runs the init script twice against a throwaway cluster on a Unix socket."""
    # Not pytest's tmp_path: its parent is private to root, and initdb may run as `nobody`.
    with tempfile.TemporaryDirectory(prefix="ct-pg-") as folder:
        _run_postgres_init_twice(Path(folder), _postgres_runner())


def _run_postgres_init_twice(tmp_path: Path, runner: list[str]) -> None:
    tmp_path.chmod(0o777)
    script = tmp_path / "init.sh"
    shutil.copy(PG_INIT, script)
    script.chmod(0o755)
    data = tmp_path / "data"
    env = {
        **os.environ,
        "PGHOST": str(tmp_path),
        "POSTGRES_USER": "airflow",
        "POSTGRES_DB": "airflow",
        "MLFLOW_DB_PASSWORD": "it's secret",
    }

    def run(*argv: str) -> subprocess.CompletedProcess:
        result = subprocess.run([*runner, *argv], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{argv[0]} failed: {result.stderr}"
        return result

    run("initdb", "-D", str(data), "-U", "airflow", "--auth=trust")
    options = f"-k {tmp_path} -c listen_addresses="
    run("pg_ctl", "-D", str(data), "-o", options, "-l", str(tmp_path / "log"), "-w", "start")
    try:
        run("createdb", "-U", "airflow", "airflow")
        run("bash", str(script))
        run("bash", str(script))
        query = "select pg_get_userbyid(datdba) from pg_database where datname = 'mlflow'"
        owner = run("psql", "-U", "airflow", "-d", "airflow", "-Atc", query).stdout.strip()
        assert owner == "mlflow"
    finally:
        stop = [*runner, "pg_ctl", "-D", str(data), "-m", "immediate", "stop"]
        subprocess.run(stop, env=env, capture_output=True)


def test_every_postgres_url_names_the_installed_driver():
    """SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, which the lock does not install (psycopg2 is)."""
    lines = (Path(__file__).resolve().parents[1] / "docker-compose.yaml").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    urls = re.findall(r"(?:db\+)?postgresql[^:\s]*://", text)
    assert urls and all("+psycopg2" in url for url in urls), urls
