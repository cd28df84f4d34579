"""Test-session setup.

Airflow reads its configuration when first imported, so its environment is set here, before any test
module imports it: a temporary AIRFLOW_HOME with a SQLite metadata DB, this repository's dags and
plugins, examples off. CT_HOME also points at a temporary folder, so no test touches ./.ct.
Heavy set-up (migrating Airflow's DB) happens only in the fixtures of tests that need Airflow.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="ct-test-home-"))
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.setdefault("CT_HOME", str(_SESSION_HOME / "ct"))

from ct.airflow_env import apply_airflow_environment  # noqa: E402  (must follow the CT_HOME default)
from ml.settings import PlatformPaths  # noqa: E402

apply_airflow_environment(PlatformPaths.from_env())


def pytest_collection_modifyitems(config, items):
    """`gpu` tests run only where CUDA is visible; everything else always runs."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def airflow_db() -> PlatformPaths:
    """The session's Airflow metadata DB, migrated once, with the platform's pools."""
    from ct.simulate import prepare_airflow

    paths = PlatformPaths.from_env()
    prepare_airflow(paths)
    return paths
