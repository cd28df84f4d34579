"""A platform home for a renamed copy of the weather contract, set as the process's platform for a test module.

Integration tests that run the DAGs for a contract of their own (so that their ledger, registered model and
assets never mix with another module's) share this set-up: the contract file in its own folder, CT_HOME,
CT_CONTRACTS_DIR and CT_CONTRACTS pointing at it, and the platform initialised. With ``users``, Airflow's simple
auth manager gets those users (role admin) and passwords, so the test can log in to the API as a person would.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from ct.airflow_env import REPO_ROOT
from ml.bootstrap import init_platform
from ml.contract import Contract, parse_contract
from ml.settings import PlatformPaths


@contextmanager
def contract_home(
    root: Path, name: str, *, changes: dict | None = None, users: dict[str, str] | None = None
) -> Generator[tuple[PlatformPaths, Contract], None, None]:
    """``changes``: top-level contract sections replaced or merged (dicts are merged one level deep)."""
    data = yaml.safe_load((REPO_ROOT / "include" / "contracts" / "weather.yaml").read_text())
    data["name"] = name
    for key, value in (changes or {}).items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    contract = parse_contract(data)
    (root / "contracts").mkdir()
    (root / "contracts" / f"{name}.yaml").write_text(yaml.safe_dump(data))
    paths = PlatformPaths(root / "home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CT_HOME", str(paths.home))
        env.setenv("CT_CONTRACTS_DIR", str(root / "contracts"))
        env.setenv("CT_CONTRACTS", name)
        if users:
            (root / "passwords.json").write_text(json.dumps(users))
            env.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", ",".join(f"{user}:admin" for user in users))
            env.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(root / "passwords.json"))
            env.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
            env.setenv("AIRFLOW__API_AUTH__JWT_SECRET", f"{name}-test-" + "x" * 64)
        init_platform(paths, [contract])
        yield paths, contract


def api_client():
    """Airflow's own API server app, in-process."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    return TestClient(create_app("core"))


def login(api, user: str, password: str) -> dict:
    """Bearer headers for ``user``, from ``/auth/token`` as the UI gets them."""
    response = api.post("/auth/token", json={"username": user, "password": password})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
